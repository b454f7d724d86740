"""Checkpoints on the command line: ``preprod audit checkpoint`` publishes the trail's head
now, and ``preprod audit verify --checkpoints FILE / --from-slack [--key PEM]`` checks the
trail against every head published (bot/audit/checkpoint.py says what a line holds)."""

from __future__ import annotations

import argparse
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console

from bot.audit.checkpoint import Checkpoint, chain_problem, read_lines, signature_problem
from bot.audit.keys import KeyProblem, load_public
from bot.cli.common import EXIT_BLOCKED, EXIT_OK, EXIT_USAGE, say
from bot.config.loader import load_config
from bot.config.paths import resolve_config_path
from bot.config.schema import Config
from bot.schedule.checkpoints import JOB, Checkpoints, append_line, current
from bot.settings import SettingsError
from bot.signing import signing_key
from bot.store.audit_log import AuditLog
from bot.store.reminders import ReminderKey
from bot.store.runs import RunStore

if TYPE_CHECKING:
    from bot.slack.client import SlackClient

MAX_KEY_FILE = 64 * 1024


def wanted(args: argparse.Namespace) -> bool:
    """True when ``verify`` was asked to compare with published checkpoints."""
    return bool(args.checkpoints or args.from_slack)


@dataclass
class Found:
    checkpoints: list[Checkpoint] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)


async def verify(args: argparse.Namespace, log: AuditLog, out: Console, err: Console) -> int:
    """Compare the trail with every checkpoint found: exit 1 naming each problem."""
    try:
        public = load_public(_read_key(args.key)) if args.key is not None else None
    except KeyProblem as exc:
        say(err, f"preprod: --key {args.key}: {exc}")
        return EXIT_USAGE
    found = Found()
    for path in args.checkpoints or []:
        if (code := _read_file(path, found, err)) != EXIT_OK:
            return code
    if args.from_slack and (code := await _read_slack(args, found, err)) != EXIT_OK:
        return code
    problems = list(found.problems)
    unique = list({c.line: c for c in found.checkpoints}.values())
    if not unique:
        problems.append(f"no checkpoint found in {', '.join(found.sources)}")
    trusted = []
    for checkpoint in unique:
        if public is not None and (forged := signature_problem(checkpoint, public)):
            problems.append(forged)
        else:
            trusted.append(checkpoint)
    events = await log.at(c.seq for c in trusted)
    last = await log.head()
    for checkpoint in sorted(trusted, key=lambda c: (c.seq, c.at)):
        if problem := chain_problem(checkpoint, events.get(checkpoint.seq), last):
            problems.append(problem)
    for problem in problems:
        say(err, f"checkpoint problem: {problem}")
    if problems:
        return EXIT_BLOCKED
    newest = max(trusted, key=lambda c: (c.seq, c.at))
    signed = " (signatures verified)" if public is not None else ""
    say(
        out,
        f"checkpoints: {len(unique)} from {', '.join(found.sources)} all match the trail"
        f"{signed}; newest #{newest.seq} ({newest.name})",
    )
    return EXIT_OK


def _read_key(path: Path) -> bytes:
    try:
        with path.open("rb") as file:
            return file.read(MAX_KEY_FILE)
    except OSError as exc:
        raise KeyProblem(f"cannot read it ({exc.strerror or exc})") from None


def _read_file(path: Path, found: Found, err: Console) -> int:
    try:
        with path.open(encoding="utf-8", errors="replace") as file:
            checkpoints, problems = read_lines(file)
    except OSError as exc:
        say(err, f"preprod: --checkpoints {path}: cannot read it ({exc.strerror or exc})")
        return EXIT_USAGE
    found.checkpoints += checkpoints
    found.problems += [f"{path}, {problem}" for problem in problems]
    found.sources.append(str(path))
    return EXIT_OK


async def _read_slack(args: argparse.Namespace, found: Found, err: Console) -> int:
    from bot.slack.checkpoints import read_channel  # Slack libraries load only when asked
    from bot.slack.client import SlackCallError

    config = load_config(resolve_config_path(args.config))
    channel = config.audit.channel
    if channel is None:
        say(err, f"preprod: --from-slack: {config.source} has no audit.channel")
        return EXIT_USAGE
    async with _slack() as slack:
        try:
            read = await read_channel(slack, channel)
        except SlackCallError as exc:
            say(err, f"preprod: --from-slack: cannot read {channel}: {exc.error}")
            return EXIT_USAGE
    found.checkpoints += read.checkpoints
    found.problems += read.problems
    note = "" if read.complete else ", the newest only"
    found.sources.append(f"Slack {channel} ({read.messages} messages{note})")
    return EXIT_OK


@asynccontextmanager
async def _slack() -> AsyncIterator[SlackClient]:
    from bot.slack.client import SlackClient

    token = os.environ.get("SLACK_BOT_TOKEN")
    if not token:
        raise SettingsError("missing environment variable SLACK_BOT_TOKEN (for Slack)")
    slack = SlackClient(token, base_url=os.environ.get("SLACK_API_URL") or None)
    try:
        yield slack
    finally:
        await slack.aclose()


async def publish(args: argparse.Namespace, out: Console, err: Console) -> int:
    """``preprod audit checkpoint``."""
    try:
        key = signing_key()
    except KeyProblem as exc:
        say(err, f"preprod: {exc}")
        return EXIT_USAGE
    store = RunStore(args.database)
    checkpoint = await current(store, key=key)
    if args.print:
        say(out, checkpoint.line)
    if args.file is not None:
        try:
            append_line(args.file, checkpoint.line)
        except OSError as exc:
            say(err, f"preprod: --file {args.file}: cannot append ({exc.strerror or exc})")
            return EXIT_USAGE
        say(err, f"appended {checkpoint.short} to {args.file}")
    if args.print or args.file is not None:
        return EXIT_OK
    config = load_config(resolve_config_path(args.config))
    if not config.audit.published:
        say(
            err,
            f"preprod: nowhere to publish: {config.source} sets none of audit.channel, "
            "audit.file, audit.url (or give --file FILE or --print)",
        )
        return EXIT_USAGE
    return await _to_sinks(config, store, checkpoint, err)


async def _to_sinks(config: Config, store: RunStore, checkpoint: Checkpoint, err: Console) -> int:
    audit, failed = config.audit, False
    sinks = Checkpoints(config, store, None)
    if audit.channel:
        from bot.slack.checkpoints import SlackCheckpoints
        from bot.slack.client import SlackCallError

        key = ReminderKey(JOB, f"manual-{checkpoint.at:%Y%m%dT%H%M%SZ}", 0, audit.channel)
        async with _slack() as slack:
            try:
                await SlackCheckpoints(store, slack).post(key.key, audit.channel, checkpoint)
                say(err, f"posted {checkpoint.short} in {audit.channel}")
            except SlackCallError as exc:
                say(err, f"could not post in {audit.channel}: {exc.error}")
                failed = True
    if audit.file is not None:
        if await sinks.to_file(audit.file, checkpoint):
            say(err, f"appended {checkpoint.short} to {audit.file}")
        else:
            failed = True
    if audit.url is not None:
        if await sinks.to_url(audit.url, checkpoint, audit.timeout):
            say(err, f"POSTed {checkpoint.short} to {audit.url.split('?', 1)[0]}")
        else:
            failed = True
    return EXIT_BLOCKED if failed else EXIT_OK
