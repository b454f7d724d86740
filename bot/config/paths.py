"""Where the config file is: a light module, so that the command line can name the default
in its help without loading the schema."""

from __future__ import annotations

import os
from pathlib import Path

CONFIG_ENV = "PREPROD_CONFIG"
DEFAULT_CONFIG = "preprod.yml"


def resolve_config_path(explicit: str | Path | None) -> Path:
    return Path(explicit or os.environ.get(CONFIG_ENV) or DEFAULT_CONFIG)
