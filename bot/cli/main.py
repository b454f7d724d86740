"""``preprod``: the command line. Exit codes: 0 no blocking failure, 1 a blocking check
failed (or errored), 2 usage or configuration error, 130 interrupted."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from rich.console import Console

from bot import __version__
from bot.cli.console import TerminalProgress, attestation_lines, summary_table, verdict_line
from bot.config.loader import ConfigError, load_config, resolve_config_path
from bot.config.schema import Config
from bot.engine.report import AttestationItem, RunReport, Verdict
from bot.engine.runner import Engine, RequestError, RunRequest
from bot.reports import write_reports
from bot.settings import SettingsError
from bot.store.migrate import SchemaError
from bot.store.runs import RunStore

EXIT_OK, EXIT_BLOCKED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="preprod", description="Pre-production validation and go/no-go sign-offs."
    )
    parser.add_argument("--version", action="version", version=f"preprod {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    check = commands.add_parser("check", help="run an environment's validation plan")
    _config_arg(check)
    check.add_argument("--env", required=True, help="environment name from the config")
    check.add_argument("--plan", help="plan to run instead of the environment's own")
    check.add_argument("--only", nargs="+", metavar="ID", default=[], help="run only these checks")
    check.add_argument("--service", default="service", help="service name recorded with the run")
    check.add_argument(
        "--release", dest="release", default="unversioned", help="version being released"
    )
    check.add_argument("--json", type=Path, metavar="FILE", help="write a JSON report")
    check.add_argument("--junit", type=Path, metavar="FILE", help="write a JUnit XML report")
    check.add_argument("--html", type=Path, metavar="FILE", help="write an HTML report")
    check.add_argument("--database", metavar="URL", help="database URL (default $DATABASE_URL)")

    config = commands.add_parser("config", help="configuration tools")
    config_commands = config.add_subparsers(dest="config_command", required=True)
    _config_arg(config_commands.add_parser("validate", help="validate a config file"))

    report = commands.add_parser("report", help="write the reports of a stored run")
    report.add_argument("run_id", type=int)
    report.add_argument("--json", type=Path, metavar="FILE")
    report.add_argument("--junit", type=Path, metavar="FILE")
    report.add_argument("--html", type=Path, metavar="FILE")
    report.add_argument("--database", metavar="URL")

    serve = commands.add_parser("serve", help="run the Slack bot over HTTP (Events API)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=3000)
    commands.add_parser("socket", help="run the Slack bot over Socket Mode")
    return parser


def _config_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config", metavar="FILE", help="config file (default $PREPROD_CONFIG or preprod.yml)"
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    out, err = Console(), Console(stderr=True)
    try:
        if args.command == "config":
            return validate(args, out)
        if args.command == "report":
            return asyncio.run(rewrite_report(args, out))
        if args.command in ("serve", "socket"):
            from bot.web.server import run_server  # Slack libraries load only for the bot

            return run_server(args.command, getattr(args, "host", ""), getattr(args, "port", 0))
        return asyncio.run(check(args, out))
    except ConfigError as exc:
        err.print(exc.render(), markup=False, highlight=False, soft_wrap=True)
        return EXIT_USAGE
    except (RequestError, LookupError, SettingsError, SchemaError) as exc:
        err.print(f"preprod: {exc}", markup=False, highlight=False, soft_wrap=True)
        return EXIT_USAGE
    except KeyboardInterrupt:
        err.print("preprod: interrupted; the run is recorded as cancelled")
        return EXIT_INTERRUPTED


def validate(args: argparse.Namespace, out: Console) -> int:
    path = resolve_config_path(args.config)
    config = load_config(path)
    checks = sum(len(plan.checks) for plan in config.plans.values())
    out.print(
        f"{path}: ok ({len(config.environments)} environments, {len(config.plans)} plans, "
        f"{checks} checks)",
        markup=False,
        highlight=False,
    )
    return EXIT_OK


async def check(args: argparse.Namespace, out: Console) -> int:
    config: Config = load_config(resolve_config_path(args.config))
    progress = TerminalProgress(out)
    engine = Engine(config, RunStore(args.database), listeners=[progress])
    request = RunRequest(
        service=args.service,
        version=args.release,
        environment=args.env,
        plan=args.plan,
        only=tuple(args.only),
    )
    try:
        report = await engine.run(request)
    finally:
        progress.stop()
    items = config.plans[report.plan].attestations
    report = report.model_copy(
        update={"attestations": [AttestationItem(**item.model_dump()) for item in items]}
    )
    _show(report, args, out)
    return EXIT_BLOCKED if report.verdict is Verdict.FAIL else EXIT_OK


async def rewrite_report(args: argparse.Namespace, out: Console) -> int:
    report = await RunStore(args.database).report(args.run_id)
    _show(report, args, out)
    return EXIT_BLOCKED if report.verdict is Verdict.FAIL else EXIT_OK


def _show(report: RunReport, args: argparse.Namespace, out: Console) -> None:
    out.print(summary_table(report))
    for line in attestation_lines(report):
        out.print(line)
    out.print(verdict_line(report))
    write_reports(report, json_path=args.json, junit_path=args.junit, html_path=args.html)
    for path in (args.json, args.junit, args.html):
        if path is not None:
            out.print(f"wrote {path}", markup=False, highlight=False)
    out.print(f"run {report.run_id} stored in the database", style="dim")


if __name__ == "__main__":
    sys.exit(main())
