"""``preprod``: the command line. Each command group lives in its own module; this one
builds the parser and turns errors into exit codes: 0 no blocking failure, 1 a blocking
check failed (or errored), 2 usage or configuration error, 130 interrupted.

Building the parser imports only argument definitions: a command's modules (the engine,
the store, Slack, the web app) load when it runs, so ``--help`` and ``--version`` answer
at once (tests/test_cli_imports.py keeps it so)."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Coroutine, Sequence
from typing import Any

from rich.console import Console

from bot import __version__
from bot.cli import (
    audit_cmd,
    check_cmd,
    config_cmd,
    db_cmd,
    evidence_cmd,
    history,
    keys_cmd,
    kinds,
    request_cmd,
    schedule_cmd,
    sessions_cmd,
    tokens_cmd,
    worker,
)
from bot.cli.common import (
    EXIT_CODES,
    EXIT_INTERRUPTED,
    EXIT_TERMINATED,
    EXIT_USAGE,
    SafeArgumentParser,
    SafeFormatter,
    consoles,
    say,
)
from bot.cli.terminate import Terminated
from bot.settings import EXECUTE_RUNS


def build_parser() -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = SafeArgumentParser(
        prog="preprod",
        description="Pre-production validation and go/no-go sign-offs.",
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"preprod {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    config_cmd.add_parsers(commands)
    check_cmd.add_parser(commands)
    kinds.add_parser(commands)
    history.add_parsers(commands)

    serve = commands.add_parser(
        "serve",
        help="run the Slack bot over HTTP (Events API)",
        description="Run the Slack bot over HTTP: POST /slack/events, GET /healthz, "
        "/metrics and /runs. Settings come from the environment (see docs/slack-setup.md).",
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on")
    serve.add_argument("--port", type=int, default=3000, help="port to listen on")
    serve.add_argument(
        "--workers",
        type=int,
        default=0,
        metavar="N",
        help="start N `preprod worker` processes that execute the runs (this process then "
        "only acks Slack and queues runs); default 0: execute runs here",
    )
    socket = commands.add_parser(
        "socket",
        help="run the Slack bot over Socket Mode",
        description="Run the Slack bot over Socket Mode (needs SLACK_APP_TOKEN): no public "
        "URL required. The web app (/runs, /healthz, /readyz, /metrics, /api) is served on "
        "--host/--port as with serve; Slack's events come over the socket.",
    )
    socket.add_argument("--host", default="127.0.0.1", help="address to listen on")
    socket.add_argument("--port", type=int, default=3000, help="port to listen on")
    worker.add_parser(commands)
    db_cmd.add_parsers(commands)
    schedule_cmd.add_parsers(commands)
    audit_cmd.add_parsers(commands)
    keys_cmd.add_parsers(commands)
    evidence_cmd.add_parser(commands)
    sessions_cmd.add_parsers(commands)
    request_cmd.add_parsers(commands)
    tokens_cmd.add_parsers(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handler = logging.StreamHandler()
    handler.setFormatter(SafeFormatter("%(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=logging.WARNING, handlers=[handler])
    out, err = consoles()
    try:
        return _dispatch(args, out, err)
    except KeyboardInterrupt:
        err.print("preprod: interrupted; the run is recorded as cancelled")
        return EXIT_INTERRUPTED
    except Terminated:
        err.print("preprod: terminated (SIGTERM); the run is recorded as cancelled")
        return EXIT_TERMINATED
    except Exception as exc:
        message = usage_error(exc)
        if message is None:
            raise
        say(err, message)
        return EXIT_USAGE


def usage_error(exc: Exception) -> str | None:
    """What to say for an error the user can fix (exit 2), else None. An error can only
    be one of these types if its module was imported by the command that failed, so the
    types are looked up among the modules loaded, never imported here: an import on the
    error path cost a second to every configuration error."""
    if isinstance(exc, LookupError):
        return f"preprod: {exc}"
    for module, name in USAGE_ERRORS:
        kind = getattr(sys.modules.get(module), name, None)
        if isinstance(kind, type) and isinstance(exc, kind):
            render = getattr(exc, "render", None)
            return str(render()) if callable(render) else f"preprod: {exc}"
    return None


USAGE_ERRORS = (
    ("bot.config.loader", "ConfigError"),  # rendered with every problem, file and line
    ("bot.engine.runner", "RequestError"),
    ("bot.settings", "SettingsError"),
    ("bot.store.migrate", "SchemaError"),
)


def _until_done(work: Coroutine[Any, Any, int]) -> int:
    """Run a command's coroutine. asyncio is imported here, for the commands that use it:
    at the top it cost ``--help`` a sixth of its start (bench/startup.py)."""
    import asyncio

    from bot.cli.terminate import stopped_by_sigterm

    return asyncio.run(stopped_by_sigterm(work))


def _dispatch(args: argparse.Namespace, out: Console, err: Console) -> int:
    command = args.command
    if command == "init":
        return config_cmd.init(args, out, err)
    if command == "config":
        return config_cmd.validate(args, out)
    if command == "checks":
        return kinds.run(args, out)
    if command == "runs":
        return _until_done(history.list_runs(args, out))
    if command == "show":
        return _until_done(history.show(args, out, err))
    if command == "report":
        return _until_done(history.rewrite_report(args, out, err))
    if command == "db":
        return db_cmd.run(args, out)
    if command == "schedule":
        return schedule_cmd.schedule(args, out)
    if command == "digest":
        return _until_done(schedule_cmd.dry_run(args, out, err))
    if command == "audit":
        return _until_done(audit_cmd.run(args, out, err))
    if command == "keys":
        return keys_cmd.run(args, out, err)
    if command == "evidence":
        return _until_done(evidence_cmd.run(args, out, err))
    if command == "sessions":
        return _until_done(sessions_cmd.run(args, out, err))
    if command in ("request", "wait"):
        return request_cmd.run(args, out, err)
    if command == "tokens":
        return _until_done(tokens_cmd.run(args, out, err))
    if command == "worker":
        return worker.run(args)
    if command in ("serve", "socket"):
        from bot.web.server import run_server  # Slack libraries load only for the bot

        host, port = getattr(args, "host", ""), getattr(args, "port", 0)
        if getattr(args, "workers", 0) > 0:
            with worker.children(args.workers):  # they execute the runs, not this process
                os.environ[EXECUTE_RUNS] = "0"
                return run_server(command, host, port)
        return run_server(command, host, port)
    return _until_done(check_cmd.run(args, out))


if __name__ == "__main__":
    sys.exit(main())
