"""``preprod init`` (a starter config) and ``preprod config validate``."""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console

from bot.cli.common import EXIT_OK, EXIT_USAGE, config_arg, say
from bot.cli.starter import ENV_VARS, STARTER
from bot.config.paths import DEFAULT_CONFIG, resolve_config_path


def add_parsers(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    init = commands.add_parser(
        "init",
        help="write a commented starter preprod.yml",
        description="Write a commented starter config to start from. An existing file is "
        "never overwritten unless --force is given.",
    )
    init.add_argument(
        "path",
        nargs="?",
        type=Path,
        default=Path(DEFAULT_CONFIG),
        metavar="FILE",
        help=f"where to write it (default {DEFAULT_CONFIG})",
    )
    init.add_argument("--force", action="store_true", help="overwrite an existing file")

    config = commands.add_parser(
        "config", help="configuration tools", description="Configuration tools."
    )
    config_commands = config.add_subparsers(dest="config_command", required=True, metavar="COMMAND")
    validate = config_commands.add_parser(
        "validate",
        help="validate a config file (exit 0 when usable, 2 naming every problem)",
        description="Validate a config file: exit 0 when it is usable, 2 with every "
        "problem named by file, key path and line. A CA bundle file that is not there yet "
        "is a warning (serve and check refuse the config until it is).",
    )
    config_arg(validate)


def init(args: argparse.Namespace, out: Console, err: Console) -> int:
    path: Path = args.path
    if path.exists() and not args.force:
        say(err, f"preprod: {path} already exists; use --force to overwrite it")
        return EXIT_USAGE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(STARTER, encoding="utf-8")
    say(out, f"wrote {path}")
    say(out, f"set {' and '.join(ENV_VARS)}, then: preprod config validate --config {path}")
    return EXIT_OK


def validate(args: argparse.Namespace, out: Console) -> int:
    from datetime import UTC, datetime

    from bot.config.loader import load_config
    from bot.config.problems import Problem
    from bot.gate.quarantine import expired

    path = resolve_config_path(args.config)
    missing: list[Problem] = []
    config = load_config(path, missing_files=missing)
    for problem in missing:
        say(
            out, f"{path}: warning: {problem}; serve and check refuse this config until it is there"
        )
    for line in expired(config.plans, datetime.now(UTC).date()):
        say(out, f"{path}: warning: {line}")
    checks = sum(len(plan.checks) for plan in config.plans.values())
    say(
        out,
        f"{path}: ok ({len(config.environments)} environments, {len(config.plans)} plans, "
        f"{checks} checks)",
    )
    return EXIT_OK
