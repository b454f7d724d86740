"""The web pages' templates (Jinja2, autoescaped): the layout, the run list, a run's page
and the insights."""

from __future__ import annotations

from functools import cache

from jinja2 import Environment, PackageLoader, StrictUndefined


@cache
def templates() -> Environment:
    """Autoescape always on: every template here is HTML, and ``select_autoescape()``
    would leave ``.j2`` files unescaped (a service named ``<script>`` ran in the page)."""
    return Environment(
        loader=PackageLoader("bot.web", "templates"), autoescape=True, undefined=StrictUndefined
    )
