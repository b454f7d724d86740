"""A real browser (Debian's Chromium, driven by Playwright) plays a release: started in
the stand-in's web view, one role approved from the dashboard after signing in through
the stand-in, the other with the panel's button, GO, then the insights. Skipped where Chromium is
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
from tests.support.workspace import CHANNEL
from tests.test_signoffs import RM, SEC, SRE1, config_for, gate_message, panel

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


async def test_a_release_from_start_to_go_in_slack_and_the_dashboard(
    page: playwright.Page, healthy_target: RunningTarget, tmp_path: Path
) -> None:
    """In the stand-in's web view the release manager types ``/preprod start``; SRE signs
    in to the dashboard (through the stand-in's Sign in with Slack) and approves there;
    security approves with the panel's button in the web view; the web view shows GO, and
    the insights page opens."""
    config = config_for(tmp_path, healthy_target)
    async with (
        running_bot(config, tmp_path, web=True) as harness,
        kept_on_failure(page, "release-to-go"),
    ):
        slack = f"{harness.standin.url}/?in={CHANNEL}&as="
        await page.goto(slack + RM)
        await page.fill("#composer input[name=text]", "/preprod start checkout-api 2.14.0 staging")
        await page.click("#composer button")
        await harness.settle()
        await harness.until(lambda: gate_message(harness) is not None, timeout=60)

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
        tick = page.locator("form.act:has(button[value='tick-oncall'])")  # SRE's attestation
        await tick.locator("input[name=text]").fill("on-call: sam and sue")
        await tick.locator("button").click()
        await playwright.expect(page.get_by_role("status")).to_have_text("Your tick is recorded.")

        await page.goto(slack + SEC)  # the panel's own button, in the web view
        approve = page.locator("form:has(input[value$=':security']) button", has_text="Approve")
        await approve.first.click()
        await harness.until(lambda: "GO" in str(panel(harness).blocks), timeout=30)
        await page.goto(slack + RM)
        await playwright.expect(page.locator("#live")).to_contain_text("GO")

        await page.goto(f"{harness.url}/insights")
        await playwright.expect(page.locator("h1")).to_have_text("Insights")
        assert await page.locator("svg").count() == 2
        await page.click("text=preprod runs")
        await playwright.expect(page.locator("td", has_text="GO")).to_have_count(1)
