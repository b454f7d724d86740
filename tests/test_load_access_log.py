"""``tasks_from: {access_log: ...}``: the load test's mix derived from real traffic."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import ValidationError

from checks.base import Status
from checks.load import LoadCheck, LoadOptions
from checks.load.access_log import derive_mix, template_of
from examples.target.access_log import lines
from tests.support.processes import locust_pids
from tests.support.target import REPO_ROOT, RunningTarget
from tests.test_check_load import make_ctx

KNOWN: dict[tuple[str, str], int] = {
    ("GET", "/api/items"): 4130,
    ("GET", "/api/items/{id}"): 2870,
    ("GET", "/api/customers/{id}/orders"): 1500,
    ("HEAD", "/healthz"): 900,
    ("GET", "/version"): 600,
    ("POST", "/api/orders"): 777,  # left out: not a replayed method by default
}
"""10,000 GET/HEAD requests in known proportions, plus writes."""


def write_log(tmp_path: Path, mix: dict[tuple[str, str], int], garbage: int = 0) -> Path:
    log = tmp_path / "access.log"
    log.write_text("\n".join(lines(mix, seed=3, garbage=garbage)) + "\n")
    return log


def options(log: Path, **tasks_from: object) -> LoadOptions:
    return LoadOptions.model_validate(
        {"users": 2, "duration": "2s", "tasks_from": {"access_log": str(log), **tasks_from}}
    )


def test_derived_weights_match_known_proportions_within_one_point(tmp_path: Path) -> None:
    o = options(write_log(tmp_path, KNOWN, garbage=25))
    replayed = {k: n for k, n in KNOWN.items() if k[0] in ("GET", "HEAD")}
    total = sum(replayed.values())
    weights = {(t.method, t.stats_name): t.weight for t in o.tasks}
    assert set(weights) == set(replayed)
    for key, count in replayed.items():
        expected_pct = 100 * count / total
        derived_pct = 100 * weights[key] / sum(weights.values())
        assert abs(derived_pct - expected_pct) < 1.0, (key, derived_pct, expected_pct)
    mix = o.tasks_from.mix if o.tasks_from else None
    assert mix is not None and mix.unparsable >= 25 and mix.skipped_method == 777
    # Each template is requested as a real path from the log, ids and all.
    [orders] = [t for t in o.tasks if t.stats_name == "/api/customers/{id}/orders"]
    assert orders.path.startswith("/api/customers/") and "{" not in orders.path


def test_templates_collapse_ids_and_drop_queries() -> None:
    assert template_of("/api/items/42?page=2") == "/api/items/{id}"
    assert template_of("/u/3fa85f64-5717-4562-b3fc-2c963f66afa6/x") == "/u/{id}/x"
    assert template_of("/blob/9f86d081884c7d659a2feaa0c55ad015") == "/blob/{id}"
    assert template_of("/api/v2/items") == "/api/v2/items"
    assert template_of("/static/deadbeefcafe.css") == "/static/deadbeefcafe.css"


def test_top_n_exclude_and_statuses() -> None:
    log = [
        '1.2.3.4 - - [26/Nov/2026:09:00:00 +0000] "GET /a/1 HTTP/1.1" 200 5 "-" "ua"',
        '1.2.3.4 - - [26/Nov/2026:09:00:00 +0000] "GET /a/2 HTTP/1.1" 200 5 "-" "ua"',
        '1.2.3.4 - - [26/Nov/2026:09:00:00 +0000] "GET /b HTTP/1.1" 500 5 "-" "ua"',
        '1.2.3.4 - - [26/Nov/2026:09:00:00 +0000] "GET /static/x.css HTTP/1.1" 200 5',
        "not a log line",
    ]
    mix = derive_mix(log, top=1, methods={"GET"}, exclude=[re.compile(r"^/static/")])
    assert [(e.template, e.count, e.weight) for e in mix.entries] == [("/a/{id}", 2, 1000)]
    assert (mix.unparsable, mix.excluded, mix.beyond_top) == (1, 1, 1)
    only_ok = derive_mix(log, top=5, methods={"GET"}, statuses={500})
    assert [e.template for e in only_ok.entries] == ["/b"]


def test_bad_logs_are_config_errors_naming_tasks_from(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="cannot read access log") as missing:
        options(tmp_path / "missing.log")
    assert missing.value.errors()[0]["loc"] == ("tasks_from",)
    empty = tmp_path / "empty.log"
    empty.write_text("garbage\n")
    with pytest.raises(ValidationError, match="gives no requests to replay"):
        options(empty)
    with pytest.raises(ValidationError, match="one of tasks, tasks_from or a locustfile"):
        LoadOptions.model_validate(
            {
                "users": 1,
                "duration": "1s",
                "tasks": [{"path": "/"}],
                "tasks_from": {"access_log": str(REPO_ROOT / "examples/target/data/access.log")},
            }
        )


async def test_a_load_run_replays_the_mix_and_shows_it(
    healthy_target: RunningTarget, tmp_path: Path
) -> None:
    ctx, _ = make_ctx(healthy_target.http_url, tmp_path)
    o = LoadOptions.model_validate(
        {
            "users": 4,
            "spawn_rate": 4,
            "duration": "3s",
            "thresholds": ["error_rate < 1%"],
            "tasks_from": {"access_log": str(REPO_ROOT / "examples/target/data/access.log")},
        }
    )
    result = await LoadCheck(o).run(ctx)
    assert result.status is Status.PASSED, result.summary + result.evidence
    assert "request mix derived from " in result.evidence
    assert "62.5%    625  GET /api/items (/api/items)" in result.evidence
    assert "GET /api/items/{id}" in result.evidence  # Locust's figures, by template
    assert locust_pids(str(tmp_path)) == []
