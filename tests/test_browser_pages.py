"""The pages' layout in a real browser (Chromium through Playwright, as tests/test_browser.py;
skipped where it is not installed): Reject's reason box beside Reject and under Approve,
Waive's justification beside Waive, an action ending on the run's page so a reload posts
nothing, trail timestamps on one line, the first insights chart titled with its axes named,
the failing-checks headers over their numbers, and the stand-in naming its time zone."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.slackbot import running_bot
from tests.support.target import RunningTarget
from tests.support.workspace import CHANNEL
from tests.test_browser import kept_on_failure, page, pytestmark
from tests.test_signoffs import RM, SEC, config_for, signoffs, started

playwright = pytest.importorskip("playwright.async_api")

__all__ = ["page", "pytestmark"]  # the browser fixture and the skip without Chromium

LINES = """(sel) => Array.from(document.querySelectorAll(sel)).map((el) => {
  const range = document.createRange();
  range.selectNodeContents(el);
  return new Set(Array.from(range.getClientRects()).map((r) => Math.round(r.top))).size;
})"""
"""How many lines of text each element matching ``sel`` takes."""

ALIGN = """(table) => {
  const t = document.querySelector(table);
  const heads = Array.from(t.querySelectorAll('thead th'));
  const cells = Array.from(t.querySelector('tbody tr').children);
  return heads.map((h, i) => [getComputedStyle(h).textAlign, getComputedStyle(cells[i]).textAlign]);
}"""


async def box(page: Any, selector: str) -> dict[str, float]:
    found = await page.locator(selector).first.bounding_box()
    assert found is not None, selector
    return dict(found)


def same_row(a: dict[str, float], b: dict[str, float]) -> bool:
    return abs((a["y"] + a["height"] / 2) - (b["y"] + b["height"] / 2)) < 6


async def test_the_run_page_insights_and_stand_in_read_well(
    page: Any, target_factory: Callable[..., RunningTarget], tmp_path: Path
) -> None:
    config = config_for(tmp_path, target_factory("no-hsts"))  # headers fails: waivable
    async with (
        running_bot(config, tmp_path, web=True) as harness,
        kept_on_failure(page, "pages-second-pass"),
    ):
        await started(harness)
        await page.set_viewport_size({"width": 900, "height": 900})
        harness.standin.oidc.user = SEC
        await page.goto(f"{harness.url}/runs/1")

        approve = await box(page, "button[value='approve-security']")
        reason = await box(page, "form:has(button[value='reject-security']) input[name=text]")
        reject = await box(page, "button[value='reject-security']")
        assert approve["y"] + approve["height"] <= reason["y"], "Approve above the reason"
        assert same_row(reason, reject) and reject["x"] >= reason["x"] + reason["width"]
        why = await box(page, "form:has(button[value='waive-headers']) input[name=text]")
        waive = await box(page, "button[value='waive-headers']")
        assert same_row(why, waive) and waive["x"] >= why["x"] + why["width"]

        await page.click("button[value='approve-security']")
        await playwright.expect(page.get_by_role("status")).to_have_text(
            "Your approval is recorded."
        )
        assert page.url == f"{harness.url}/runs/1"  # not /act: a reload posts nothing
        await page.reload()
        await playwright.expect(page.get_by_role("status")).to_have_count(0)
        assert [(s.role, s.user) for s in signoffs(harness)] == [("security", SEC)]
        assert await page.locator("button[value='approve-security']").count() == 0

        trail = 'section[aria-label="Audit trail"] tbody td:first-child'
        lines = await page.evaluate(LINES, trail)
        assert lines and max(lines) == 1, lines

        await page.goto(f"{harness.url}/insights")
        first = page.locator("figure").first
        await playwright.expect(first.locator("figcaption")).to_have_text(
            "Median cycle time by day"
        )
        assert await first.locator("svg text.axis").count() == 2  # the value and time axes
        aligned = await page.evaluate(ALIGN, 'table[aria-label="Checks that fail most"]')
        assert all(head == cell for head, cell in aligned), aligned

        await page.goto(f"{harness.standin.url}/?in={CHANNEL}&as={RM}")
        await playwright.expect(page.locator("#zone")).to_contain_text("Europe/Berlin")
        await playwright.expect(page.locator("time.ts").first).to_have_text(
            re.compile(r"^\d\d:\d\d [A-Z+\-0-9]+$")
        )
