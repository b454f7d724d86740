"""The trend charts in a real browser (Debian's Chromium, driven by Playwright): six
seeded releases of checkout-api draw their load check's p95, error rate and throughput
and the stress check's headroom on the run page, each point where the browser lays it
out; the dashboard lists the flaky check. Skipped where Chromium is not installed (the
setup is tests/test_browser.py's)."""

from __future__ import annotations

from pathlib import Path

from tests.slackbot import running_bot
from tests.test_browser import kept_on_failure, page, playwright, pytestmark  # noqa: F401
from tests.test_trends import P95, SERVICE, SRE1, VERSIONS, seed, write_config


async def test_the_trend_chart_renders_with_six_releases(
    page: playwright.Page,  # noqa: F811
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path}/bot.db"
    ids = await seed(url)
    async with (
        running_bot(write_config(tmp_path), tmp_path, web=True, database_url=url) as harness,
        kept_on_failure(page, "trends"),
    ):
        harness.standin.oidc.user = SRE1  # who the stand-in's consent signs in
        await page.goto(f"{harness.url}/runs/{ids[-1]}")
        trends = page.get_by_role("region", name="Trends")
        await playwright.expect(trends.locator("h2")).to_have_text(
            f"Trends of {SERVICE} on staging"
        )
        charts = trends.locator("svg")
        await playwright.expect(charts).to_have_count(4)
        p95 = page.get_by_role("img", name="steady: p95 over the last 6 releases")
        await playwright.expect(p95).to_be_visible()
        box = await p95.bounding_box()
        assert box is not None and box["width"] > 300 and box["height"] > 100
        points = p95.locator("circle")
        await playwright.expect(points).to_have_count(len(VERSIONS))
        # drawn left to right, rising with the p95: the slowest release is the highest
        placed = [await points.nth(i).bounding_box() for i in range(len(VERSIONS))]
        xs = [b["x"] for b in placed if b is not None]
        ys = [b["y"] for b in placed if b is not None]
        assert xs == sorted(xs) and len(set(xs)) == len(VERSIONS)
        assert ys == sorted(ys, reverse=True) and list(P95) == sorted(P95)
        for version in (VERSIONS[0], VERSIONS[-1]):
            await playwright.expect(p95.locator("text", has_text=version)).to_have_count(1)
        headroom = page.get_by_role(
            "img", name="capacity: capacity headroom over the last 6 releases"
        )
        await playwright.expect(headroom).to_be_visible()

        await page.goto(f"{harness.url}/runs")
        flaky = page.get_by_role("table", name="Flakiest checks")
        await playwright.expect(flaky.locator("tbody tr")).to_have_count(1)
        await playwright.expect(flaky.locator("tbody tr")).to_contain_text("smoke")
