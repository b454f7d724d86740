"""The ``load`` check: a Locust load, stress, soak or spike test with thresholds."""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from functools import partial
from pathlib import Path

import httpx

from checks._http import cannot_reach
from checks.base import Check, CheckResult, Status
from checks.comparing import against_baseline
from checks.context import CheckContext
from checks.guidance import RunFigures, for_metric
from checks.load import locustfile
from checks.load.options import LoadOptions
from checks.load.profiles import Verdict, watcher_for
from checks.load.runner import RunOutput, RunSpec, run_locust, tail
from checks.load.stats import FinalStats, Sample, final_stats
from checks.regression import Distribution

STARTUP_S = 15.0
"""Locust's own start-up and shutdown, on top of the planned test length."""
GRACE_S = 30.0


class LoadCheck(Check[LoadOptions]):
    type_name = "load"
    Options = LoadOptions
    exclusive = True
    default_timeout = 600.0

    def natural_timeout(self) -> float:
        o = self.options
        waiting = float(o.expect_workers_timeout) if o.distributed else 0.0
        return o.planned_seconds() + waiting + STARTUP_S + GRACE_S

    def deadline(self) -> float:
        """The runner's own hard stop, a little inside the engine's timeout."""
        o = self.options
        waiting = float(o.expect_workers_timeout) if o.distributed else 0.0
        return o.planned_seconds() + waiting + STARTUP_S

    async def run(self, ctx: CheckContext) -> CheckResult:
        o = self.options
        unreachable = await _preflight(ctx)
        if unreachable:
            return CheckResult.error(ctx.redact(unreachable))

        workdir = Path(ctx.workdir).resolve() / "load"
        try:
            workdir.mkdir(parents=True, exist_ok=True)
            files = self._write_locustfiles(workdir)
        except OSError as exc:
            return CheckResult.error(ctx.redact(f"cannot write the locustfile: {exc}"))
        spec = RunSpec(
            locustfiles=files,
            host=ctx.target.base_url,
            workdir=workdir,
            env=self._environment(ctx, workdir),
            users=o.users if o.profile in ("load", "soak") else None,
            spawn_rate=o.effective_spawn_rate() if o.profile in ("load", "soak") else None,
            run_time_s=o.duration if o.profile in ("load", "soak") else None,
            workers=o.workers,
            expect_workers=o.total_workers if o.distributed else 0,
            master_bind=o.master_bind,
            expect_workers_timeout=float(o.expect_workers_timeout),
            deadline_s=self.deadline(),
        )

        def progress(message: str, figures: dict[str, float]) -> None:
            ctx.progress(message, **figures)

        watcher = watcher_for(o, progress)

        def on_sample(sample: Sample) -> str | None:
            return watcher.feed(sample)

        ctx.progress(f"starting Locust ({o.profile}, {self._size()})")
        started = time.monotonic()
        try:
            output = await run_locust(spec, on_sample)
        except OSError as exc:  # cannot start Locust or write its files
            return CheckResult.error(ctx.redact(f"cannot run Locust: {exc}"))
        if not output.entries:
            return self._no_statistics(ctx, output, workdir)
        final = final_stats(output.entries)
        if final.total.requests == 0:
            return self._no_statistics(ctx, output, workdir)
        verdict = watcher.verdict(final)
        # The peak users, unless the profile says which users its verdict is about.
        verdict.metrics.setdefault("users", float(watcher.peak_users or o.users or 0))
        verdict.metrics["duration_s"] = round(time.monotonic() - started, 1)
        verdict.metrics["workers"] = float(o.total_workers)
        if output.stop_reason and (output.timed_out or o.profile != "stress"):
            # (a stress test's breaking point is already in its summary)
            verdict.notes.append(output.stop_reason)
            if verdict.status == Status.PASSED and output.timed_out:
                verdict.status = Status.ERROR
            verdict.summary = f"{output.stop_reason} | {verdict.summary}"
        figures = partial(_run_figures, final, watcher.by_users)
        hints = _threshold_guidance(verdict, figures({}))
        if hints:
            verdict.summary = f"{verdict.summary} | look at: {hints[0]}"
        kept = Distribution(
            dict(final.total.hist), final.total.requests, final.total.failures, final.total.seconds
        )
        compared = await against_baseline(ctx, o, kept, figures)
        if compared is not None:
            verdict.metrics.update(compared.metrics)
            verdict.notes += compared.lines
            if compared.regressed:
                if not verdict.status.is_problem:
                    verdict.status = Status.FAILED
                verdict.summary = f"{compared.summary} | {verdict.summary}"
            else:
                verdict.summary = f"{verdict.summary} | {compared.summary}"
        return CheckResult(
            status=verdict.status,
            summary=ctx.redact(verdict.summary),
            metrics=verdict.metrics,
            evidence=ctx.redact(self._evidence(verdict, final, output, hints)),
            distribution=kept.to_json(),
        )

    # -- pieces ------------------------------------------------------------------

    def _size(self) -> str:
        o = self.options
        workers = f", {o.total_workers} workers" if o.distributed else ""
        if o.profile == "stress":
            return f"{o.start_users}->{o.max_users} users by {o.step_users}{workers}"
        if o.profile == "spike":
            return f"{o.users} users, spike to {o.spike_users}{workers}"
        return f"{o.users} users for {o.duration:g} s{workers}"

    def _write_locustfiles(self, workdir: Path) -> list[Path]:
        o = self.options
        if o.locustfile is not None:
            support = workdir / "preprod_support.py"
            _write_private(support, locustfile.support_source(o))
            return [o.locustfile.resolve(), support]
        path = workdir / "locustfile.py"
        _write_private(path, locustfile.generate(o))
        return [path]

    def _environment(self, ctx: CheckContext, workdir: Path) -> dict[str, str]:
        env = dict(os.environ)
        env[locustfile.ENV_HEADERS] = locustfile.task_headers(self.options, ctx.target.headers)
        env[locustfile.ENV_TIMELINE] = str(workdir / "timeline.jsonl")
        env[locustfile.ENV_INTERVAL] = "1.0"
        if ctx.target.ca_bundle is not None:
            env[locustfile.ENV_CA_BUNDLE] = str(Path(ctx.target.ca_bundle).resolve())
        else:
            env.pop(locustfile.ENV_CA_BUNDLE, None)
        env.setdefault("PYTHONUNBUFFERED", "1")
        return env

    def _no_statistics(self, ctx: CheckContext, output: RunOutput, workdir: Path) -> CheckResult:
        if output.stop_reason and output.timed_out:
            reason = output.stop_reason
        elif output.returncode not in (0, None):
            reason = f"Locust exited with code {output.returncode}"
        else:
            reason = "Locust made no requests"
        log = tail(workdir / "master.log")
        evidence = "\n".join(["Locust log (last lines):", *log, *output.log_lines])
        hint = next((line for line in reversed(log) if line.strip()), "")
        return CheckResult.error(
            ctx.redact(f"{reason}: {hint}" if hint else reason),
            evidence=ctx.redact(evidence),
        )

    def _evidence(
        self, verdict: Verdict, final: FinalStats, output: RunOutput, hints: list[str]
    ) -> str:
        o = self.options
        lines = [f"profile {o.profile}: {self._size()}"]
        if o.tasks_from is not None:
            lines += ["", *o.tasks_from.mix.evidence(o.tasks_from.access_log)]
        if verdict.outcomes or verdict.task_outcomes:
            lines.append("")
            lines.append("thresholds:")
            lines += [f"  {outcome.line()}" for outcome in verdict.outcomes]
            for name, outcomes in verdict.task_outcomes.items():
                lines += [f"  [{name}] {outcome.line()}" for outcome in outcomes]
            lines += [f"  look at: {hint}" for hint in hints]
        if verdict.notes:
            lines.append("")
            lines += verdict.notes
        lines.append("")
        lines.append(_task_table(final))
        if output.failures:
            lines.append("")
            lines.append("failures (Locust):")
            for row in output.failures[:20]:
                lines.append(
                    f"  {row.get('occurrences', '?'):>6} x {row.get('method', '')} "
                    f"{row.get('name', '')}: {row.get('error', '')}"
                )
        if output.log_lines:
            lines.append("")
            lines.append("Locust errors:")
            lines += [f"  {line}" for line in output.log_lines]
        return "\n".join(lines)


def _run_figures(
    final: FinalStats, by_users: Mapping[int, tuple[int, int]], baseline: Mapping[str, float]
) -> RunFigures:
    tasks = {name: window.figures() for name, window in final.tasks.items()}
    return RunFigures(final.total.figures(), tasks, dict(by_users), baseline)


def _threshold_guidance(verdict: Verdict, figures: RunFigures) -> list[str]:
    """One line per broken metric kind (latency, errors, throughput), in order."""
    broken = [o.threshold.metric for o in verdict.outcomes if not o.passed]
    broken += [
        o.threshold.metric for os in verdict.task_outcomes.values() for o in os if not o.passed
    ]
    kinds = dict.fromkeys(
        "error_rate" if m == "error_rate" else "rps" if m == "rps" else "p95" for m in broken
    )
    hints = (for_metric(kind, figures) for kind in kinds)
    return [hint for hint in hints if hint]


def _task_table(final: FinalStats) -> str:
    header = (
        f"{'task':<32} {'requests':>9} {'fail%':>6} {'rps':>8} "
        f"{'p50':>6} {'p95':>6} {'p99':>6} {'max':>7}"
    )
    rows = [header, "-" * len(header)]
    for name, window in [*sorted(final.tasks.items()), ("(all)", final.total)]:
        f = window.figures()
        label = f"{final.methods.get(name, '')} {name}".strip()
        rows.append(
            f"{label[:32]:<32} {window.requests:>9} {f['error_rate_pct']:>6.1f} "
            f"{f['rps']:>8.1f} {f['p50_ms']:>6.0f} {f['p95_ms']:>6.0f} {f['p99_ms']:>6.0f} "
            f"{f['max_ms']:>7.0f}"
        )
    return "\n".join(rows)


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)


async def _preflight(ctx: CheckContext) -> str | None:
    """None when the target answers at all (any status, body unread); else why not, in
    the words every check uses (``cannot reach URL: connection refused``)."""
    url = ctx.target.url("/")
    try:
        async with ctx.http_client(timeout=5.0) as client, client.stream("GET", url):
            pass
    except httpx.HTTPError as exc:
        return cannot_reach(url, exc)
    return None
