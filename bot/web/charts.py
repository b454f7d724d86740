"""Trend charts as inline SVG: no script, no external asset, readable without colour
(each chart has a title and a text alternative). Pure: numbers in, markup out; every
label is escaped here because the result is inserted into the page as markup."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from markupsafe import Markup

WIDTH, HEIGHT = 640, 200
LEFT, RIGHT, TOP, BOTTOM = 48, 12, 24, 44


def _axes(x_label: str, y_label: str) -> str:
    """The axis titles: the value axis's along its side, the time axis's below it."""
    middle = TOP + (HEIGHT - TOP - BOTTOM) / 2
    y = (
        f'<text class="axis" x="14" y="{middle:.0f}" text-anchor="middle" '
        f'transform="rotate(-90 14 {middle:.0f})">{escape(y_label)}</text>'
        if y_label
        else ""
    )
    x_mid = LEFT + (WIDTH - LEFT - RIGHT) / 2
    x = (
        f'<text class="axis" x="{x_mid:.0f}" y="{HEIGHT - 4}" text-anchor="middle">'
        f"{escape(x_label)}</text>"
        if x_label
        else ""
    )
    return y + x


def _frame(
    title: str, summary: str, body: str, top: str, x_label: str = "", y_label: str = ""
) -> Markup:
    return Markup(
        f'<svg role="img" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" '
        f'xmlns="http://www.w3.org/2000/svg" aria-label="{escape(title)}">'
        f"<title>{escape(title)}</title><desc>{escape(summary)}</desc>"
        f'<line x1="{LEFT}" y1="{HEIGHT - BOTTOM}" x2="{WIDTH - RIGHT}" y2="{HEIGHT - BOTTOM}" '
        'stroke="#8c959f"/>'
        f'<text x="4" y="{TOP}">{escape(top)}</text><text x="4" y="{HEIGHT - BOTTOM}">0</text>'
        f"{body}{_axes(x_label, y_label)}</svg>"
    )


def _x(index: int, count: int) -> float:
    span = WIDTH - LEFT - RIGHT
    return LEFT + (span * (index + 0.5) / count if count else 0)


def _y(value: float, top: float) -> float:
    span = HEIGHT - TOP - BOTTOM
    return HEIGHT - BOTTOM - (span * value / top if top else 0)


def _labels(labels: Sequence[str]) -> str:
    every = max(1, len(labels) // 8)
    return "".join(
        f'<text x="{_x(i, len(labels)):.1f}" y="{HEIGHT - BOTTOM + 16}" text-anchor="middle">'
        f"{escape(label)}</text>"
        for i, label in enumerate(labels)
        if i % every == 0
    )


def time_unit(longest: float) -> tuple[float, str]:
    """The unit a time axis whose top is ``longest`` seconds reads best in: seconds under
    two minutes, minutes under two hours, hours beyond (not "0 min" for short cycles)."""
    if longest < 120:
        return 1.0, "s"
    if longest < 7200:
        return 60.0, "min"
    return 3600.0, "h"


UNIT_WORDS = {"s": "seconds", "min": "minutes", "h": "hours"}


def duration_chart(
    title: str, labels: Sequence[str], seconds: Sequence[float | None], x_label: str = ""
) -> Markup:
    """A line of durations, in the unit their longest reads best in (named on the axis)."""
    per, unit = time_unit(max((s for s in seconds if s is not None), default=0.0))
    values = [None if s is None else s / per for s in seconds]
    return line_chart(title, labels, values, unit, x_label=x_label, y_label=UNIT_WORDS[unit])


def _amount(value: float) -> str:
    """An axis value: whole above ten, one decimal below it (``0.5``, not ``0``)."""
    return f"{value:.0f}" if value >= 10 or value == int(value) else f"{value:.1f}"


def line_chart(
    title: str,
    labels: Sequence[str],
    values: Sequence[float | None],
    unit: str,
    *,
    x_label: str = "",
    y_label: str = "",
) -> Markup:
    """One series; a missing value breaks the line."""
    known = [v for v in values if v is not None]
    top = max(known, default=0.0) or 1.0
    paths: list[list[str]] = []
    current: list[str] = []
    for i, value in enumerate(values):
        if value is None:
            if current:
                paths.append(current)
            current = []
            continue
        current.append(f"{_x(i, len(values)):.1f},{_y(value, top):.1f}")
    if current:
        paths.append(current)
    body = "".join(
        f'<polyline fill="none" stroke="#1565c0" stroke-width="2" points="{" ".join(p)}"/>'
        + "".join(
            f'<circle cx="{pt.split(",")[0]}" cy="{pt.split(",")[1]}" r="2.5" fill="#1565c0"/>'
            for pt in p
        )
        for p in paths
    )
    summary = ", ".join(
        f"{label}: {'none' if v is None else f'{v:.1f} {unit}'}"
        for label, v in zip(labels, values, strict=True)
    )
    top_text = f"{_amount(top)} {unit}"
    return _frame(title, summary, body + _labels(labels), top_text, x_label, y_label)


def bar_chart(
    title: str,
    labels: Sequence[str],
    series: Sequence[tuple[str, str, Sequence[int]]],
    *,
    x_label: str = "",
    y_label: str = "",
) -> Markup:
    """Stacked bars: ``series`` is ``(name, colour, values)``, bottom first."""
    count = len(labels)
    totals = [sum(values[i] for _, _, values in series) for i in range(count)]
    top = float(max(totals, default=0) or 1)
    width = max(2.0, (WIDTH - LEFT - RIGHT) / max(count, 1) * 0.7)
    bars = []
    for i in range(count):
        base = 0
        for _, colour, values in series:
            if values[i]:
                y0, y1 = _y(base, top), _y(base + values[i], top)
                bars.append(
                    f'<rect x="{_x(i, count) - width / 2:.1f}" y="{y1:.1f}" width="{width:.1f}" '
                    f'height="{y0 - y1:.1f}" fill="{escape(colour)}"/>'
                )
            base += values[i]
    legend = "".join(
        f'<rect x="{LEFT + 110 * n}" y="4" width="10" height="10" fill="{escape(colour)}"/>'
        f'<text x="{LEFT + 110 * n + 14}" y="13">{escape(name)}</text>'
        for n, (name, colour, _) in enumerate(series)
    )
    summary = "; ".join(
        f"{name}: {', '.join(f'{label} {v}' for label, v in zip(labels, values, strict=True))}"
        for name, _, values in series
    )
    body = "".join(bars) + legend + _labels(labels)
    return _frame(title, summary, body, f"{top:.0f}", x_label, y_label)
