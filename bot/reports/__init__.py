"""Run reports for people and machines: JSON, JUnit XML and a standalone HTML page.

The renderers are pure (``RunReport`` in, text out) so the Slack bot, the web pages and
the CLI share them; ``write_reports`` is the one place that touches the filesystem.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from bot.record.report import RunReport
from bot.reports.html import render_html
from bot.reports.json_report import SCHEMA, render_json
from bot.reports.junit import render_junit

__all__ = ["SCHEMA", "render_html", "render_json", "render_junit", "write_reports"]

PathLike = str | os.PathLike[str]


def write_reports(
    report: RunReport,
    *,
    json_path: PathLike | None = None,
    junit_path: PathLike | None = None,
    html_path: PathLike | None = None,
) -> None:
    """Render and write the requested reports (UTF-8), creating missing parent directories.

    Everything is rendered before anything is written, so a rendering bug never leaves a
    half-updated set of files behind for CI to pick up.
    """
    renderers: tuple[tuple[PathLike | None, Callable[[RunReport], str]], ...] = (
        (json_path, render_json),
        (junit_path, render_junit),
        (html_path, render_html),
    )
    outputs = [(Path(path), render(report)) for path, render in renderers if path is not None]
    for path, text in outputs:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
