"""``python -m bot.cli``: the same as the ``preprod`` command."""

import sys

from bot.cli.main import main

sys.exit(main())
