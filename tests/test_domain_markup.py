"""The domain rooms speak plain words: Slack markup (mentions, channel links, dates) is
the Slack adapter's to write, or it ends up escaped and shown raw (``&lt;@U1&gt;``)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOMAIN = ["bot/config", "bot/engine", "bot/store", "bot/gate"]
SLACK_MARKUP = re.compile(r"<[@#!][^>]*>")


def test_no_domain_module_writes_slack_markup() -> None:
    found = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for room in DOMAIN
        for path in sorted((ROOT / room).rglob("*.py"))
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if SLACK_MARKUP.search(line)
    ]
    assert found == []
