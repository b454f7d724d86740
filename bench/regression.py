"""Does ``compare_to: last_go`` catch a slower release, and only then?

Against the example target (real subprocesses on 127.0.0.1, a real SQLite store): one
warm-up run, one healthy run recorded GO, then ``--runs`` runs of the same healthy release,
each compared with the last GO (a passing run is recorded GO in turn, as the gate would),
then ``--runs`` runs of the release made 15% slower (``regress=15``), each compared with
that last GO (a slower run is never recorded GO, so a miss cannot become the baseline).
Prints, per series, how many runs were flagged and the p95 and p-value of each run, and the
time the comparison (baseline lookup and test) added per run. Each line also shows the
machine's 1-minute load average when the run ended: on a shared machine a healthy run
measured while the load doubled is slower for real, and the test sees it.

``--kind http`` runs the same series with an ``http`` check (``--repeat`` rounds of
/api/quote, compared request by request) instead of the load check.

    python bench/regression.py [--kind load|http] [--runs 20] [--users 20] [--duration 4]
                               [--repeat 25] [--regress 15]

Acceptance (issue 25): healthy flagged 0 (or near), slower flagged >= 19 of 20.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlmodel import Session

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a script: the examples package is beside bot/

from bot.store.baselines import GO, StoreBaselines  # noqa: E402
from bot.store.models import DecisionRecord, Run, RunStatus  # noqa: E402
from bot.store.runs import RunStore  # noqa: E402
from checks.base import CheckResult, Status  # noqa: E402
from checks.context import CheckContext, RunInfo, Target  # noqa: E402
from checks.http import HttpCheck, HttpOptions  # noqa: E402
from checks.load import LoadCheck, LoadOptions  # noqa: E402
from examples.target.launch import start_target  # noqa: E402

SERVICE, ENVIRONMENT = "checkout-api", "staging"


def make_check(args: Any) -> LoadCheck | HttpCheck:
    """The check compared with the last GO: /api/quote (real work) under load, or sent
    ``--repeat`` times by an ``http`` check."""
    if args.kind == "http":
        return HttpCheck(
            HttpOptions.model_validate(
                {
                    "repeat": args.repeat,
                    "requests": [{"path": "/api/quote"}],
                    "compare_to": "last_go",
                    "regression": {"p95": "+10%"},
                }
            )
        )
    return LoadCheck(
        LoadOptions.model_validate(
            {
                "users": args.users,
                "spawn_rate": args.users,
                "duration": f"{args.duration:g}s",
                "tasks": [{"path": "/api/quote"}],
                "thresholds": ["error_rate < 1%"],
                "compare_to": "last_go",
                "regression": {"p95": "+10%", "error_rate": "+0.5pt"},
            }
        )
    )


@dataclass
class Series:
    """One series of runs: what each found."""

    label: str
    results: list[CheckResult] = field(default_factory=list)
    loads: list[float] = field(default_factory=list)

    @property
    def flagged(self) -> int:
        return sum(1 for r in self.results if "regression:" in r.summary)

    def lines(self) -> list[str]:
        out = []
        for n, (r, load) in enumerate(zip(self.results, self.loads, strict=True), 1):
            m = r.metrics
            p = m.get("regression_p_p95")
            p_text = "-" if p is None else f"{p:.2e}"
            out.append(
                f"  {n:>2}. p95 {m.get('p95_ms', 0):>5.0f} ms vs {m.get('baseline_p95', 0):>5.0f}"
                f"  p={p_text:<9} load {load:>5.2f}  "
                f"{'FLAGGED' if 'regression:' in r.summary else 'ok'}"
            )
        return out


async def one_run(
    store: RunStore,
    url: str,
    version: str,
    workdir: Path,
    args: Any,
    go_if_passed: bool = True,
) -> CheckResult:
    """One stored run of the load check; recorded GO when it passed (as the gate would),
    unless ``go_if_passed`` is False (the slower release: each of its runs is compared
    with the last GO of the healthy one, so a miss cannot become the next baseline)."""
    check = make_check(args)
    check_id = args.kind
    run = await store.create_run(
        Run(service=SERVICE, version=version, environment=ENVIRONMENT, plan="p", base_url=url),
        [(check_id, check.type_name, True)],
    )
    assert run.id is not None
    ctx = CheckContext(
        target=Target(name=ENVIRONMENT, base_url=url),
        run=RunInfo(run.id, SERVICE, version, ENVIRONMENT, "p"),
        check_id=check_id,
        workdir=workdir / f"run-{run.id}",
        baselines=StoreBaselines(store, SERVICE, ENVIRONMENT, run.id),
    )
    found = await check.run(ctx)
    result = found.model_copy(update={"check_id": check_id, "check_type": check.type_name})
    await store.save_result(run.id, result)
    await store.finish_run(run.id, RunStatus.FINISHED)
    if go_if_passed and result.status == Status.PASSED:
        await store.call(lambda s: _decide(s, run.id or 0))
    return result


def _decide(session: Session, run_id: int) -> None:
    session.add(DecisionRecord(run_id=run_id, outcome=GO))
    session.commit()


async def series(
    store: RunStore, url: str, label: str, version: str, workdir: Path, args: Any, go: bool
) -> Series:
    out = Series(label)
    for _ in range(args.runs):
        result = await one_run(store, url, version, workdir, args, go)
        out.results.append(result)
        out.loads.append(os.getloadavg()[0])
    return out


async def bench(args: Any, tmp: Path) -> tuple[Series, Series]:
    store = RunStore(f"sqlite:///{tmp / 'bench.db'}")
    with start_target(state_dir=tmp / "healthy", app_version="2.13.0") as target:
        warm = await one_run(store, target.http_url, "warm-up", tmp, args)
        print(f"warm-up: {warm.summary}", flush=True)  # a missing baseline, said plainly
        first = await one_run(store, target.http_url, "2.13.0", tmp, args)
        print(f"baseline: {first.status.value}: {first.summary}", flush=True)
        healthy = await series(store, target.http_url, "healthy 2.13.0", "2.13.0", tmp, args, True)
    slower = f"regress={args.regress:g}"
    with start_target(slower, state_dir=tmp / "slower", app_version="2.14.0") as target:
        regressed = await series(
            store, target.http_url, f"2.14.0 {slower}", "2.14.0", tmp, args, False
        )
    return healthy, regressed


def report(healthy: Series, regressed: Series) -> None:
    for s in (healthy, regressed):
        print(
            f"\n{s.label}: flagged {s.flagged} of {len(s.results)} (load average "
            f"{min(s.loads):.2f} to {max(s.loads):.2f} on {os.cpu_count()} cores)"
        )
        print("\n".join(s.lines()))
    costs = [r.metrics.get("comparison_ms", 0.0) for r in healthy.results + regressed.results]
    print(
        f"\ncomparison time per run (baseline lookup + tests): median "
        f"{statistics.median(costs):.2f} ms, max {max(costs):.2f} ms"
    )
    print(f"healthy flagged: {healthy.flagged}/{len(healthy.results)}")
    print(f"slower flagged: {regressed.flagged}/{len(regressed.results)}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kind", choices=("load", "http"), default="load")
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=25, help="http: rounds of /api/quote")
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--duration", type=float, default=4.0)
    parser.add_argument("--regress", type=float, default=15.0)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        healthy, regressed = asyncio.run(bench(args, Path(tmp)))
    report(healthy, regressed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
