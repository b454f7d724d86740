"""bench/pipelines.py, small: a real ``preprod serve --workers 2`` on SQLite, the Slack
stand-in (four environments, each its own channel), the GitHub stand-in, 20 pipelines (18
httpx long-pollers, 2 ``preprod request --wait`` subprocesses) on two runs and a burst of
two GitHub webhooks, the runs approved or rejected through the stand-in's signed clicks.
Every pipeline gets its run's verdict, once, each run is announced once in its own
channel, every job is decided once at GitHub, and every process the bench started is
gone afterwards. The 500-pipeline figures come from the bench itself."""

from __future__ import annotations

from pathlib import Path

import httpx

from bench.pipelines import bench
from bench.pipelines_figures import Figures, Options, Pipeline, figure_line, pct
from bench.pipelines_github import STATES, Burst
from bench.pipelines_serve import channel_of, config_text
from bot.store.runs import RunStore
from bot.store.tokens import Tokens
from github_standin import WaitingJob
from tests.support.processes import alive, bots, until
from tests.support.target import RunningTarget


async def test_every_pipeline_and_job_gets_its_runs_verdict_once(
    healthy_target: RunningTarget, tmp_path: Path
) -> None:
    options = Options(
        pipelines=20, runs=2, cli=2, reject_every=2, timeout=90, webhooks=2, environments=4
    )
    figures, burst = await bench(options, tmp_path, f"sqlite:///{tmp_path}/bot.db", healthy_target)
    assert not figures.timed_out and figures.problems == [], figures.lines()
    assert figures.lost() == [] and figures.doubled() == [], figures.lines()
    assert len(figures.intended) == 2 + 2 and set(figures.intended.values()) == {"go", "no-go"}
    for pipeline in figures.pipelines:
        assert pipeline.run_id is not None
        assert pipeline.verdict == figures.intended[pipeline.run_id], pipeline
    by_cli = {p.verdict: p.exit_code for p in figures.pipelines if p.cli}
    assert set(by_cli.items()) <= {("go", 0), ("no-go", 1)}  # the CLI's exit codes
    assert (len(figures.lags(cli=False)), len(figures.lags(cli=True))) == (18, 2)
    assert all(lag > 0 for lag in figures.lags(cli=False) + figures.lags(cli=True))
    assert figures.waiting_at_once == 18  # every httpx pipeline was in a long poll at once
    assert sorted(figures.announcements.values()) == [1] * 4
    assert set(figures.channels) == {channel_of(n) for n in range(4)}  # each its environment's
    # the burst: every delivery answered 202 in time, two runs, each job decided once
    assert [d.status_code for d in burst.deliveries] == [202] * 2
    assert all(d.duration < 10 for d in burst.deliveries)
    assert len(set(burst.runs.values())) == 2
    assert burst.verdicts(figures.intended) == {"once": 2}, burst.accepted
    for job in burst.jobs:
        assert [job.state] == [STATES[figures.intended[burst.runs[job.run_id]]]]
    assert {"serve", "worker 1", "worker 2"} <= set(figures.rss_kib)
    assert all(kib > 0 for kib in figures.rss_kib.values())
    assert len(figures.pids) >= 5 and not any(alive(pid) for pid in figures.pids)


def test_the_figures_name_lost_and_doubled_decisions() -> None:
    figures = Figures(Options(pipelines=3, runs=1, cli=0), "sqlite", started=10.0, finished=12.5)
    figures.intended, figures.clicked = {7: "go"}, {7: 11.0}
    figures.pipelines = [
        Pipeline(0, 0, False, run_id=7, verdict="go", answered=11.25),
        Pipeline(1, 0, False, run_id=7, verdict="no-go", answered=11.5),
        Pipeline(2, 0, False, run_id=7),
    ]
    figures.announcements = {7: 2}
    assert [p.index for p in figures.lost()] == [2]
    assert figures.doubled() == [
        "run 7: clicked go, seen ['go', 'no-go']",
        "run 7: 2 announcements",
    ]
    assert figures.lags(cli=False) == [0.25, 0.5]
    assert pct([0.1, 0.2, 0.3, 0.4], 50) == 0.2 and pct([0.1, 0.2, 0.3, 0.4], 99) == 0.4
    assert figure_line("click -> answer", [0.25, 0.5]) == (
        "click -> answer     n=2    first    250 ms  p50    250 ms  p99    500 ms  max    500 ms"
    )
    lines = figures.lines()
    assert "decisions lost      1" in lines and "decisions doubled   2" in lines
    assert "goal p99 < 2 s    met" in lines


async def test_a_run_requested_through_the_api_is_executed_by_serves_worker(
    healthy_target: RunningTarget, tmp_path: Path
) -> None:
    """The API stored its runs with source ``api``, and workers (and replicas) resume only
    ``slack`` runs: under ``serve --workers`` a requested run was never executed."""
    config = tmp_path / "preprod.yml"
    config.write_text(config_text(healthy_target.http_url, 1, github=False))
    async with bots(config, tmp_path) as group:
        serve = group.serve("--workers", "1")
        await until(lambda: "executes runs" in serve.output())
        store = RunStore(group.database.url)
        try:
            token = await Tokens(store).create("ci", "*", "*", "test")
        finally:
            store.engine.dispose()
        headers = {"authorization": f"Bearer {token}"}
        async with httpx.AsyncClient(base_url=serve.url, headers=headers, timeout=30) as http:
            body = {"service": "svc", "version": "1", "environment": "staging-0",
                    "source": {"kind": "other"}}  # fmt: skip
            asked = await http.post("/api/v1/requests", json=body, headers={"Idempotency-Key": "k"})
            assert asked.status_code == 201, asked.text
            finished = "SELECT status FROM run"
            await until(lambda: group.query(finished) == [("FINISHED",)], 20, "never executed")
            view = (await http.get(f"/api/v1/runs/{asked.json()['id']}")).json()
        assert view["checks"]["done"] == 1 and view["decision"] == "pending", view
        assert view["awaiting"] == [{"role": "sre", "label": "SRE"}]


def test_the_burst_names_lost_doubled_and_wrong_decisions_at_github() -> None:
    jobs = [WaitingJob("acme", "checkout", n, "production-0", 42) for n in (1, 2, 3, 4)]
    burst = Burst(4, jobs=jobs, runs={1: 11, 2: 12, 3: 13, 4: 14})
    burst.accepted = {1: ["approved"], 2: ["approved", "approved"], 3: ["approved"]}
    intended = {11: "go", 12: "go", 13: "no-go", 14: "go"}
    assert burst.verdicts(intended) == {"once": 1, "doubled": 1, "wrong": 1, "lost": 1}
    lines = burst.lines(intended)
    assert "lost 1, doubled 1, wrong 1" in lines[-2] and lines[-2].startswith(
        "decided at GitHub   1 exactly once (4 approved, 0 rejected)"
    )
    assert "NOT met" in lines[2]  # no delivery was answered at all
    assert lines[-1].startswith("redelivered         0")
