"""The web dashboard's run list (each run's page is its HTML report)."""

from __future__ import annotations

from functools import cache

from jinja2 import Environment, PackageLoader, StrictUndefined

from bot.settings import Settings
from bot.store.models import Run


@cache
def _templates() -> Environment:
    """Autoescape always on: every template here is HTML, and ``select_autoescape()``
    would leave ``.j2`` files unescaped (a service named ``<script>`` ran in the page)."""
    return Environment(
        loader=PackageLoader("bot.web", "templates"), autoescape=True, undefined=StrictUndefined
    )


def render_run_list(runs: list[Run], settings: Settings) -> str:
    return _templates().get_template("runs.html.j2").render(runs=runs, settings=settings)
