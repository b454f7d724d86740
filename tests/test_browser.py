"""A real browser (Debian's Chromium, driven by Playwright) signs in through the stand-in,
approves one role from the dashboard and opens the insights. Skipped where Chromium is
not installed (``make test`` installs it as root); a failure leaves a screenshot and the
page's HTML in ``.preprod/test-artifacts/``."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from sqlmodel import Session, select

from bot.store.models import SignOff
from tests.slackbot import running_bot
from tests.support.target import REPO_ROOT, RunningTarget
from tests.test_signoffs import SRE1, config_for, panel, started

playwright = pytest.importorskip("playwright.async_api")

CHROMIUM = "/usr/bin/chromium"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = REPO_ROOT / ".preprod" / "test-artifacts"

pytestmark = pytest.mark.skipif(
    shutil.which(CHROMIUM) is None, reason=f"{CHROMIUM} not installed (apt-get install chromium)"
)


@pytest.fixture
async def page() -> AsyncIterator[playwright.Page]:
    async with playwright.async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        try:
            opened = await browser.new_page()
            opened.set_default_timeout(15_000)
            yield opened
        finally:
            await browser.close()


@asynccontextmanager
async def kept_on_failure(page: playwright.Page, name: str) -> AsyncIterator[None]:
    """On any failure inside, a screenshot and the HTML of the page go to ARTIFACTS."""
    try:
        yield
    except BaseException:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
        (ARTIFACTS / f"{name}.html").write_text(await page.content())
        raise


async def test_sign_in_approve_from_the_dashboard_and_open_insights(
    page: playwright.Page, healthy_target: RunningTarget, tmp_path: Path
) -> None:
    config = config_for(tmp_path, healthy_target)
    async with (
        running_bot(config, tmp_path, web=True) as harness,
        kept_on_failure(page, "dashboard-approval"),
    ):
        await started(harness)
        harness.standin.oidc.user = SRE1  # who the stand-in's consent signs in
        await page.goto(f"{harness.url}/runs/1")
        assert page.url == f"{harness.url}/runs/1"  # back from Slack, signed in
        await playwright.expect(page.get_by_text("signed in as")).to_contain_text(SRE1)
        await page.click("button[value='approve-sre']")
        await playwright.expect(page.get_by_role("status")).to_have_text(
            "Your approval is recorded."
        )
        with Session(harness.bot.store.engine) as session:
            [signed] = session.exec(select(SignOff)).all()
        assert (signed.role, signed.user, signed.vote) == ("sre", SRE1, "approve")
        await harness.until(lambda: SRE1 in str(panel(harness).blocks))

        await page.click("text=insights")
        await playwright.expect(page.locator("h1")).to_have_text("Insights")
        assert await page.locator("svg").count() == 2
        await page.click("text=preprod runs")
        await playwright.expect(page.locator("td", has_text="awaiting Security")).to_have_count(1)
