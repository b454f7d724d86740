"""`preprod --help`, `--version` and every command's `--help` import nothing heavy: each
command loads the engine, the store, Slack or the web app only when it runs (issue 26).
A functional guard: it asserts which modules were imported, not how long it took."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

HEAVY = (
    "sqlalchemy",
    "sqlmodel",
    "alembic",
    "locust",
    "jinja2",
    "slack_sdk",
    "slack_bolt",
    "starlette",
    "uvicorn",
    "apscheduler",
    "githubkit",
    "httpx",
    "yaml",
    "pydantic",  # checks/units.py parses --timeout without it (checks/quantities.py has it)
    "numpy",  # the insights' figures import it as they are computed
    "asyncio",  # a sixth of the start on its own: imported where a command runs a coroutine
)

PROBE = """
import contextlib, io, json, sys
from bot.cli.main import build_parser, main

def asked(argv):
    with contextlib.redirect_stdout(io.StringIO()) as out:
        try:
            main(argv)
        except SystemExit as exc:
            assert exc.code == 0, (argv, exc.code)
    return out.getvalue()

texts = {"--help": asked(["--help"]), "--version": asked(["--version"])}
commands = build_parser()._subparsers._group_actions[0].choices
for name, parser in commands.items():
    texts[name] = asked([name, "--help"])
    for action in parser._actions:
        for sub in getattr(action, "choices", None) or {}:
            if isinstance(action.choices, dict):
                texts[f"{name} {sub}"] = asked([name, sub, "--help"])
heavy = sorted({m.split(".")[0] for m in sys.modules} & set(json.loads(sys.argv[1])))
print(json.dumps({"heavy": heavy, "texts": texts}))
"""


def test_help_and_version_import_nothing_heavy() -> None:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(HEAVY)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    found = json.loads(done.stdout)
    assert found["heavy"] == [], f"--help imported {found['heavy']}"
    texts = found["texts"]
    # Every command and sub-command answered its own help, from the real parser.
    assert texts["--version"].startswith("preprod ")
    for command in ("check", "runs", "serve", "worker", "request", "wait", "tokens", "audit"):
        assert f"usage: preprod {command}" in texts[command], command
    assert "usage: preprod audit verify" in texts["audit verify"]
    assert "usage: preprod tokens create" in texts["tokens create"]
    assert "--checkpoints" in texts["audit verify"]


def test_a_command_still_loads_what_it_needs() -> None:
    """The other side of the guard: running a command imports its modules (here the
    config loader of `config validate` reports a missing file as a usage error)."""
    done = subprocess.run(
        [sys.executable, "-m", "bot.cli", "config", "validate", "--config", "/nonexistent.yml"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2, done.stderr
    assert "/nonexistent.yml" in done.stderr


def test_the_server_starts_without_a_deprecation_warning() -> None:
    """Every `preprod serve` printed Authlib's "the httpx module is deprecated" warning:
    people learn to skip warnings. The server's modules import with warnings as errors."""
    done = subprocess.run(
        [sys.executable, "-W", "error", "-c", "import bot.web.app, bot.web.bot, bot.web.server"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr[-2000:]


def test_a_configuration_error_loads_no_database(tmp_path: Path) -> None:
    """`config validate` on a broken file answers from the loader alone: telling an error
    from a bug imported the engine and SQLAlchemy on the error path (a second each)."""
    broken = tmp_path / "preprod.yml"
    broken.write_text("environments: [\n")
    probe = (
        "import sys\nfrom bot.cli.main import main\ncode = main(sys.argv[1:])\n"
        "print(code, sorted(m for m in ('sqlalchemy', 'sqlmodel', 'locust') if m in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe, "config", "validate", "--config", str(broken)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.stdout.split(None, 1) == ["2", "[]\n"], done.stdout + done.stderr
    assert "configuration problem" in done.stderr
