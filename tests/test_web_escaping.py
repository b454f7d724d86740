"""Every HTML page escapes what users and checks wrote: the run list, a run's page and
the HTML report file, with a service, version, requester, summary and evidence full of
markup. Over real HTTP against the real app; the report file through the real CLI."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.engine.request import RunRequest
from bot.engine.runner import Engine
from checks import registry
from checks.base import Check, CheckOptions, CheckResult
from checks.context import CheckContext
from tests.slackbot import running_bot
from tests.support.signin import signed_in
from tests.support.target import REPO_ROOT

SCRIPT = "<script>alert(1)</script>"
IMG = '<img src=x onerror="alert(2)">'
CLOSE = "</td></tr></table><b>bold</b>"
HOSTILE = (SCRIPT, IMG, CLOSE)
LIVE = ("<script", "<img", "<b>", "</table><b")

CONFIG = """\
channel: C0RELEASES
environments:
  staging:
    base_url: http://127.0.0.1:9
    plan: standard
plans:
  standard:
    checks:
      - {id: marked, type: hostile_markup}
"""


class HostileCheck(Check[CheckOptions]):
    """Fails with a summary and evidence full of markup."""

    type_name = "hostile_markup"
    Options = CheckOptions

    async def run(self, ctx: CheckContext) -> CheckResult:
        return CheckResult.failed(
            f"summary {SCRIPT} {IMG}",
            evidence=f"evidence {CLOSE}\n{SCRIPT}\n{IMG}",
        )


@pytest.fixture
def hostile_kind() -> Iterator[None]:
    registry.register(HostileCheck.type_name, HostileCheck)
    yield
    registry.unregister(HostileCheck.type_name)


def assert_escaped(page: str) -> None:
    for live in LIVE:
        assert live not in page, f"live markup {live!r} in the page"
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


@pytest.mark.usefixtures("hostile_kind")
async def test_every_page_escapes_markup_from_users_and_checks(tmp_path: Path) -> None:
    config = tmp_path / "preprod.yml"
    config.write_text(CONFIG)
    async with running_bot(config, tmp_path, web=True) as harness:
        request = RunRequest(
            service=f"svc {SCRIPT}",
            version=f"1.0 {IMG}",
            environment="staging",
            requester=f"U0RM {CLOSE}",
            source="slack",
        )
        report = await Engine(harness.bot.config, harness.bot.store).run(request)
        async with await signed_in(harness.url, harness.standin, "U0RM") as http:
            listing = await http.get("/runs")
            page = await http.get(f"/runs/{report.run_id}")
            framed = await http.get(f"/runs/{report.run_id}/report")
    assert listing.status_code == page.status_code == framed.status_code == 200
    assert_escaped(listing.text)
    assert "&lt;img src=x" in listing.text and "&lt;b&gt;bold" in listing.text
    assert_escaped(page.text)
    assert "summary &lt;script&gt;" in page.text  # the failure, on the sign-off panel
    assert_escaped(framed.text)
    assert "evidence &lt;/td&gt;" in framed.text and "summary &lt;script&gt;" in framed.text

    html = tmp_path / "report.html"
    done = subprocess.run(
        [sys.executable, "-m", "bot.cli", "report", str(report.run_id), "--html", str(html),
         "--database", f"sqlite:///{tmp_path}/bot.db"],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode in (0, 1), done.stderr
    assert_escaped(html.read_text())
