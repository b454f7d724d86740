"""``preprod`` run in the test's own process: ``bot.cli.main.main()`` rather than a new
interpreter (about a second each), for tests where a subprocess adds nothing. Output is
read with pytest's ``capsys``; the environment is set with ``monkeypatch``."""

from __future__ import annotations

import logging

from bot.cli.main import main


def preprod_main(*args: str) -> int:
    """``preprod <args>``: its exit code, argparse's own (usage errors, ``--help``)
    included. Safe to call from a thread (``asyncio.to_thread`` in an async test, where
    ``main()``'s ``asyncio.run`` cannot run on the test's loop).

    The root logger is left as it was found: ``main()`` calls ``logging.basicConfig``,
    which would otherwise leave a handler on this test's captured stderr, and the WARNING
    level, for every later test of the session."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        return main(list(args))
    except SystemExit as exc:  # argparse: usage errors (2) and --help (0)
        code = exc.code
        return code if isinstance(code, int) else (0 if code is None else 1)
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
