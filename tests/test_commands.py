"""Parsing ``/preprod`` text."""

from __future__ import annotations

import pytest
import yaml

from bot.slack.commands import (
    VERBS,
    Cancel,
    Help,
    ListRuns,
    RecordOutcome,
    Report,
    Rerun,
    Start,
    Status,
    UsageError,
    parse,
)
from tests.support.target import REPO_ROOT


@pytest.mark.parametrize(
    ("text", "command"),
    [
        ("", Help()),
        ("help", Help()),
        ("start checkout-api 2.14.0 staging", Start("checkout-api", "2.14.0", "staging")),
        (
            "start checkout-api 2.14.0 staging plan=quick only=smoke,tls",
            Start("checkout-api", "2.14.0", "staging", "quick", ("smoke", "tls")),
        ),
        ("  START  api 1 prod ", Start("api", "1", "prod")),
        ("status", Status(None)),
        ("status 12", Status(12)),
        ("status #12", Status(12)),
        ("list", ListRuns()),
        ("cancel 3", Cancel(3)),
        ("rerun 3", Rerun(3)),
        ("rerun 3 smoke", Rerun(3, "smoke")),
        ("report 7", Report(7)),
        ("outcome 7 success", RecordOutcome(7, "success")),
        ("outcome #7 Rolled-Back", RecordOutcome(7, "rolled-back")),
    ],
)
def test_parses(text: str, command: object) -> None:
    assert parse(text) == command


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("start checkout-api", "`start` needs a service, a version and an environment"),
        ("start a b c d", "`start` needs a service, a version and an environment"),
        ("start a b c colour=red", "unknown option `colour=`; options are `plan=` and `only=`"),
        ("start a b c only=", "`only=` needs at least one check id"),
        ("status abc", "`abc` is not a run number"),
        ("status 1 2", "`status` takes an optional run number"),
        ("list all", "`list` takes no arguments"),
        ("cancel", "`cancel` takes a run number"),
        ("rerun", "`rerun` takes a run number and an optional check"),
        ("deploy now", "unknown command `deploy`"),
        ("strat a b c", "unknown command `strat` (did you mean `start`?)"),
        ("stauts 3", "unknown command `stauts` (did you mean `status`?)"),
        ("outcome 7", "`outcome` takes a run number and `success` or `rolled-back`"),
        ("outcome 7 fine", "`outcome` is `success` or `rolled-back`"),
    ],
)
def test_usage_errors(text: str, message: str) -> None:
    with pytest.raises(UsageError) as caught:
        parse(text)
    assert str(caught.value) == message


def test_the_manifest_usage_hint_names_every_command() -> None:
    """Slack shows the hint as people type: a command it leaves out is never found
    (`outcome` was missing)."""
    manifest = yaml.safe_load((REPO_ROOT / "manifest.yml").read_text())
    [command] = manifest["features"]["slash_commands"]
    words = {part.split()[0] for part in command["usage_hint"].split(" | ")}
    assert words == set(VERBS)
