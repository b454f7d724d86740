"""The load check's pure parts: threshold expressions, options, profile verdicts on
synthetic timelines, the generated locustfile and the Locust command lines. Fast."""

from __future__ import annotations

from pathlib import Path
from textwrap import dedent
from typing import Any

import pytest
from pydantic import ValidationError

from bot.config.loader import ConfigError, load_config
from bot.reports.figures import figures
from checks.base import Status
from checks.load import LoadCheck, LoadOptions
from checks.load.locustfile import generate, stages, task_headers
from checks.load.profiles import watcher_for
from checks.load.runner import RunSpec, build_commands
from checks.load.stats import FinalStats, Sample, Window, final_stats
from checks.load.thresholds import evaluate, parse_percent, parse_threshold, summarize

TASKS = [{"path": "/api/items", "weight": 3}, {"path": "/api/items/1", "name": "item"}]


def options(**kwargs: Any) -> LoadOptions:
    kwargs.setdefault("tasks", TASKS)
    return LoadOptions.model_validate(kwargs)


# -- thresholds ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "metric", "op", "limit"),
    [
        ("p95 < 500ms", "p95", "<", 500),
        ("p99<1.5s", "p99", "<", 1500),
        ("  avg <= 20 ms ", "avg", "<=", 20),
        ("max < 2s", "max", "<", 2000),
        ("p50 < 5ms", "p50", "<", 5),
        ("p90 < 90ms", "p90", "<", 90),
        ("error_rate < 1%", "error_rate", "<", 1),
        ("error_rate <= 0.5%", "error_rate", "<=", 0.5),
        ("rps > 100", "rps", ">", 100),
        ("rps >= 48.5", "rps", ">=", 48.5),
        ("P95 < 500MS", "p95", "<", 500),
    ],
)
def test_parse_valid_thresholds(text: str, metric: str, op: str, limit: float) -> None:
    threshold = parse_threshold(text)
    assert (threshold.metric, threshold.op, threshold.limit) == (metric, op, limit)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("p95 500ms", "expected"),
        ("p95 < fast", "expected"),
        ("p97 < 500ms", "unknown metric 'p97'"),
        ("p95 < 500", "needs a unit"),
        ("p95 < 5%", "needs a unit"),
        ("error_rate < 1", "percentage"),
        ("rps > 100ms", "plain number"),
        ("", "expected"),
    ],
)
def test_bad_thresholds_say_what_is_expected(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_threshold(text)


def test_non_string_threshold_is_refused() -> None:
    with pytest.raises(ValueError, match='expected "<metric> < <number>ms"'):
        parse_threshold(500)


def test_evaluate_and_summarize_put_broken_first() -> None:
    thresholds = [parse_threshold(t) for t in ("error_rate < 1%", "p95 < 500ms", "rps > 100")]
    figures = {"p95_ms": 1210.0, "error_rate_pct": 0.0, "rps": 48.2}
    outcomes = evaluate(thresholds, figures)
    assert [o.passed for o in outcomes] == [True, False, False]
    assert summarize(outcomes) == "p95 1210 ms >= 500 ms; rps 48.2 <= 100; error_rate 0.0% ok"
    assert outcomes[1].line().startswith("FAIL  p95 < 500ms")
    assert "measured 1210 ms" in outcomes[1].line()


def test_missing_figure_fails_the_threshold() -> None:
    (outcome,) = evaluate([parse_threshold("p95 < 1s")], {})
    assert not outcome.passed and "not measured" in outcome.describe()


def test_percent() -> None:
    assert parse_percent("30%") == 30 and parse_percent(12.5) == 12.5
    with pytest.raises(ValueError):
        parse_percent("a lot")


# -- options ------------------------------------------------------------------------


def test_bad_threshold_is_an_error_at_its_element() -> None:
    with pytest.raises(ValidationError) as caught:
        options(users=1, duration="1s", thresholds=["p95 < 1s", "p95 fast"])
    (error,) = caught.value.errors()
    assert error["loc"] == ("thresholds", 1)
    assert 'expected "<metric> < <number>ms", e.g. "p95 < 500ms"' in error["msg"]


def test_config_error_names_the_key_path(tmp_path: Path) -> None:
    path = tmp_path / "preprod.yml"
    path.write_text(
        dedent(
            """\
            channel: C0RELEASES
            roles:
              sre: {label: SRE, members: [U1]}
            environments:
              staging: {base_url: "http://127.0.0.1:1", plan: standard}
            plans:
              standard:
                checks:
                  - {id: a, type: load, users: 1, duration: 1s, tasks: [{path: /}]}
                  - {id: b, type: load, users: 1, duration: 1s, tasks: [{path: /}]}
                  - {id: load, type: load, users: 5, duration: 10s,
                     thresholds: ["p95 is fast"], tasks: [{path: /api/items}]}
            """
        )
    )
    with pytest.raises(ConfigError) as caught:
        load_config(path, environ={})
    rendered = caught.value.render()
    assert "plans.standard.checks[2].thresholds[0]" in rendered, rendered
    assert 'e.g. "p95 < 500ms"' in rendered


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"duration": "1s"}, "needs 'users'"),
        ({"users": 1, "duration": "1s", "tasks": []}, "give tasks"),
        ({"users": 1, "duration": "1s", "max_users": 9}, "not used by profile 'load'"),
        ({"users": 1, "duration": "1s", "task_thresholds": {"nope": ["p95 < 1s"]}}, "no such"),
        (
            {
                "profile": "stress",
                "start_users": 5,
                "step_users": 5,
                "step_duration": "1s",
                "max_users": 20,
            },
            "needs thresholds",
        ),
        (
            {
                "profile": "spike",
                "users": 5,
                "spike_users": 5,
                "baseline_duration": "1s",
                "spike_duration": "1s",
                "recovery_duration": "1s",
            },
            "must exceed",
        ),
        ({"users": 1, "duration": "1s", "workers": 2, "expect_workers": 1}, "cannot be below"),
        ({"users": 1, "duration": "1s", "master_bind": "a b"}, "host:port"),
        ({"users": 1, "duration": "1s", "tasks": [{"path": "api"}]}, "starts with '/'"),
        ({"users": 1, "duration": "1s", "tasks": [{"path": "/", "method": "FETCH"}]}, "method"),
    ],
)
def test_option_mistakes(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        options(**kwargs)


def test_options_round_trip_through_json() -> None:
    opts = options(
        profile="stress",
        start_users=1,
        step_users=2,
        step_duration="1s",
        max_users=5,
        thresholds=["p95 < 1s"],
        capacity={"expected_peak_rps": 5},
        tasks=[{"path": "/a", "json": {"x": 1}}],
        wait="200ms",
    )
    assert LoadOptions.model_validate_json(opts.model_dump_json(by_alias=True)) == opts
    assert opts.model_dump()["thresholds"] == ["p95 < 1s"]


def test_planned_length_and_natural_timeout() -> None:
    stress = options(
        profile="stress",
        start_users=10,
        step_users=20,
        step_duration="30s",
        max_users=60,
        thresholds=["p95 < 1s"],
    )
    assert stress.stress_steps() == [10, 30, 50, 60]
    assert stress.planned_seconds() == 120
    check = LoadCheck(options(users=5, duration="2m"))
    assert 120 < check.natural_timeout() < 240
    assert LoadCheck.exclusive is True


# -- generated locustfile and commands ----------------------------------------------------


def test_generated_locustfile_compiles_without_secrets() -> None:
    opts = options(
        users=2,
        duration="1s",
        wait=["100ms", "1s"],
        tasks=[
            {"path": "/api/items", "weight": 3, "headers": {"X-Api-Key": "k3y-s3cr3t"}},
            {"path": "/api/items", "method": "post", "json": {"a": [1, "b"]}, "name": "new"},
        ],
    )
    text = generate(opts)
    compile(text, "locustfile.py", "exec")
    assert "k3y-s3cr3t" not in text
    assert "FastHttpUser" in text and "@task(3)" in text and "between(0.1, 1.0)" in text
    assert "k3y-s3cr3t" in task_headers(opts, {"Authorization": "Bearer t0ken"})


def test_stress_and_spike_shapes() -> None:
    stress = options(
        profile="stress",
        start_users=5,
        step_users=5,
        step_duration="2s",
        max_users=12,
        thresholds=["p95 < 1s"],
    )
    assert stages(stress) == [(2.0, 5, 5.0), (4.0, 10, 5.0), (6.0, 12, 5.0)]
    compile(generate(stress), "locustfile.py", "exec")
    spike = options(
        profile="spike",
        users=2,
        spike_users=20,
        baseline_duration="3s",
        spike_duration="2s",
        recovery_duration="4s",
    )
    assert stages(spike) == [(3.0, 2, 1.0), (5.0, 20, 20.0), (9.0, 2, 20.0)]
    assert stages(options(users=1, duration="1s")) is None


def test_commands_for_master_and_workers(tmp_path: Path) -> None:
    spec = RunSpec(
        locustfiles=[tmp_path / "l.py"],
        host="http://127.0.0.1:1",
        workdir=tmp_path,
        env={},
        users=4,
        spawn_rate=2,
        run_time_s=3,
        workers=2,
        expect_workers=3,
        master_bind="0.0.0.0:5999",
    )
    main, workers = build_commands(spec)
    assert main[main.index("--master-bind-host") + 1] == "0.0.0.0"
    assert main[main.index("--master-bind-port") + 1] == "5999"
    assert main[main.index("--expect-workers") + 1] == "3"
    assert main[main.index("--run-time") + 1] == "3s"
    assert len(workers) == 2
    assert workers[0][workers[0].index("--master-host") + 1] == "127.0.0.1"
    single, none = build_commands(RunSpec([tmp_path / "l.py"], "http://x", tmp_path, {}, users=1))
    assert none == [] and "--master" not in single


# -- profile verdicts on synthetic timelines ----------------------------------------------


def sample(t: float, users: int, n: int, f: int = 0, rt: int = 10) -> Sample:
    window = Window(
        requests=n,
        failures=f,
        total_ms=float(n * rt),
        max_ms=rt,
        hist={rt: n} if n else {},
        start=t - 1,
        end=t,
        users=users,
    )
    return Sample(t=t, users=users, total=window, tasks={"/api/items": window})


def final_of(samples: list[Sample]) -> FinalStats:
    total = Window()
    for s in samples:
        total.add(s.total)
    return final_stats(
        [
            {
                "name": "/api/items",
                "method": "GET",
                "num_requests": total.requests,
                "num_failures": total.failures,
                "total_response_time": total.total_ms,
                "max_response_time": total.max_ms,
                "response_times": {str(k): v for k, v in total.hist.items()},
                "start_time": total.start,
                "last_request_timestamp": total.end,
            }
        ]
    )


def feed(opts: LoadOptions, samples: list[Sample]) -> tuple[Any, list[str | None], list[str]]:
    messages: list[str] = []
    watcher = watcher_for(opts, lambda text, figures: messages.append(text))
    reasons = [watcher.feed(s) for s in samples]
    return watcher, reasons, messages


def test_stress_stops_at_first_broken_step_and_judges_capacity() -> None:
    opts = options(
        profile="stress",
        start_users=10,
        step_users=10,
        step_duration="3s",
        max_users=50,
        thresholds=["p95 < 100ms", "error_rate < 1%"],
        capacity={"expected_peak_rps": 100, "safety_margin": 1.5},
    )
    samples = []
    for second in range(1, 13):  # steps of 3 s: 10, 20, 30 users (broken), then 40
        step = (second - 1) // 3
        rt = 500 if step >= 2 else 20
        samples.append(sample(1000 + second, 10 * (step + 1), n=100 * (step + 1), rt=rt))
    watcher, reasons, messages = feed(opts, samples)
    stops = [r for r in reasons if r]
    assert stops and stops[0].startswith("breaking point at 30 users: p95 500 ms >= 100 ms")
    verdict = watcher.verdict(final_of(samples))
    assert verdict.metrics["breaking_users"] == 30 and verdict.metrics["last_good_users"] == 20
    assert verdict.metrics["sustained_rps"] == pytest.approx(200, rel=0.01)
    assert verdict.metrics["headroom_ratio"] == pytest.approx(2.0, rel=0.01)
    assert verdict.status == Status.PASSED  # 200 rps >= 100 x 1.5
    assert "headroom 2.00x" in verdict.summary
    assert any(m.startswith("step 1/5") for m in messages)
    # one throughput figure, named alike in the summary and the figures; live is "now"
    assert "sustained throughput 200.0 req/s at 20 users" in verdict.summary
    assert "rps" not in verdict.metrics
    shown = {f.label: f.value for f in figures(verdict.metrics)}
    assert "Throughput" not in shown and shown["Sustained throughput"] == "200 req/s"
    assert all("throughput now" in m for m in messages if "req/s" in m)


def test_stress_broken_at_first_step_fails() -> None:
    opts = options(
        profile="stress",
        start_users=10,
        step_users=10,
        step_duration="2s",
        max_users=20,
        thresholds=["error_rate < 1%"],
    )
    samples = [sample(2000 + s, 10, n=50, f=25) for s in range(1, 4)]
    watcher, _, _ = feed(opts, samples)
    verdict = watcher.verdict(final_of(samples))
    assert verdict.status == Status.FAILED and "no step held" in verdict.summary


def test_soak_degradation_fails() -> None:
    opts = options(
        profile="soak",
        users=5,
        spawn_rate=5,
        duration="20s",
        window="4s",
        max_degradation="30%",
        thresholds=["error_rate < 1%"],
    )
    samples = [sample(3000 + s, 5, n=50, rt=20 if s < 12 else 60) for s in range(1, 21)]
    watcher, _, _ = feed(opts, samples)
    verdict = watcher.verdict(final_of(samples))
    assert verdict.status == Status.FAILED
    assert verdict.summary.startswith("degraded: p95 20 ms -> 60 ms (+200%) > 30%")
    assert verdict.metrics["degradation_pct"] == 200


def test_spike_recovery_time() -> None:
    opts = options(
        profile="spike",
        users=2,
        spike_users=20,
        baseline_duration="4s",
        spike_duration="2s",
        recovery_duration="6s",
        max_recovery="2s",
    )
    timeline = [(s, 2, 20) for s in range(1, 5)] + [(s, 20, 300) for s in (5, 6)]
    timeline += [(s, 2, 300 if s < 10 else 20) for s in range(7, 13)]
    samples = [sample(4000 + s, users, n=40, rt=rt) for s, users, rt in timeline]
    watcher, _, _ = feed(opts, samples)
    verdict = watcher.verdict(final_of(samples))
    assert verdict.metrics["baseline_p95_ms"] == 20 and verdict.metrics["spike_p95_ms"] == 300
    assert verdict.metrics["recovery_s"] == pytest.approx(3, abs=1)
    assert verdict.status == Status.FAILED and "limit 2 s" in verdict.summary


def test_abort_on_fail_needs_enough_evidence() -> None:
    opts = options(
        users=5, duration="60s", thresholds=["error_rate < 1%", "rps > 1000000"], abort_on_fail=True
    )
    samples = [sample(5000 + s, 5, n=20, f=10) for s in range(1, 8)]
    _, reasons, _ = feed(opts, samples)
    assert reasons[0] is None  # too few requests yet
    stops = [r for r in reasons if r]
    assert stops and stops[0] == "aborted early: error_rate 50.0% >= 1%"  # rps never aborts
