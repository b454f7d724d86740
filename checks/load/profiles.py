"""The load, soak and spike profiles, and the choice of a watcher per profile (stress
lives in :mod:`checks.load.stress`)."""

from __future__ import annotations

from collections import deque

from checks.base import Status
from checks.load.options import LoadOptions
from checks.load.stats import FinalStats, Sample, Window
from checks.load.stress import StressWatcher
from checks.load.watching import Progress, Verdict, Watcher


class LoadWatcher(Watcher):
    pass


class SoakWatcher(Watcher):
    """Compares the first window after ramp-up with the last window of the test."""

    def __init__(self, options: LoadOptions, progress: Progress) -> None:
        super().__init__(options, progress)
        self.window_s = options.soak_window()
        ramp = (options.users or 1) / options.effective_spawn_rate()
        self.first_from = min(ramp, float(options.duration or 0) / 4)
        self.first = Window()
        self.last: deque[Sample] = deque()

    def observe(self, sample: Sample) -> str | None:
        at = self.elapsed(sample)
        if self.first_from <= at < self.first_from + self.window_s:
            self.first.add(sample.total)
        self.last.append(sample)
        while self.last and sample.t - self.last[0].t >= self.window_s:
            self.last.popleft()
        return self.abort_check(sample)

    def verdict(self, final: FinalStats) -> Verdict:
        verdict = self.whole_test(final)
        last = Window()
        for s in self.last:
            last.add(s.total)
        metric = self.options.degradation_metric
        key = f"{metric}_ms"
        before, after = self.first.figures()[key], last.figures()[key]
        growth = (after - before) / before * 100 if before > 0 else 0.0
        verdict.metrics.update(
            {f"first_{key}": before, f"last_{key}": after, "degradation_pct": round(growth, 1)}
        )
        text = f"{metric} {before:.0f} ms -> {after:.0f} ms ({growth:+.0f}%)"
        limit = self.options.max_degradation
        if limit is not None and growth > limit:
            verdict.status = Status.FAILED
            verdict.summary = f"degraded: {text} > {limit:g}%; {verdict.summary}"
        else:
            verdict.summary = f"{verdict.summary}; soak {text}"
        verdict.notes.append(
            f"soak windows of {self.window_s:.0f} s: first {self.first.requests} requests, "
            f"last {last.requests} requests; {text}"
        )
        return verdict


class SpikeWatcher(Watcher):
    """Baseline, a sudden jump to spike_users, back to baseline: error rate during the
    spike and the time until latency is back near the baseline."""

    def __init__(self, options: LoadOptions, progress: Progress) -> None:
        super().__init__(options, progress)
        self.t1 = float(options.baseline_duration or 0)
        self.t2 = self.t1 + float(options.spike_duration or 0)
        self.baseline = Window()
        self.spike = Window()
        self.after: list[Sample] = []

    def phase(self, sample: Sample) -> str:
        at = self.elapsed(sample)
        return "baseline: " if at < self.t1 else "spike: " if at < self.t2 else "recovery: "

    def observe(self, sample: Sample) -> str | None:
        at = self.elapsed(sample)
        if self.t1 / 2 <= at < self.t1:
            self.baseline.add(sample.total)
        elif self.t1 <= at < self.t2:
            self.spike.add(sample.total)
        elif at >= self.t2:
            self.after.append(sample)
        return self.abort_check(sample)

    def recovery_seconds(self, limit_ms: float) -> float | None:
        """First time after the spike when the p95 of three consecutive samples is back
        within the tolerance of the baseline."""
        for i in range(len(self.after)):
            group = self.after[i : i + 3]
            if len(group) < min(3, len(self.after)):
                break
            window = Window()
            for s in group:
                window.add(s.total)
            if window.requests and window.percentile(0.95) <= limit_ms:
                assert self.t0 is not None
                return max(0.0, group[0].t - group[0].total.seconds - self.t0 - self.t2)
        return None

    def verdict(self, final: FinalStats) -> Verdict:
        verdict = self.whole_test(final)
        base = self.baseline.figures()
        spike = self.spike.figures()
        limit_ms = max(base["p95_ms"] * (1 + self.options.recovery_tolerance / 100), 1.0)
        recovery = self.recovery_seconds(limit_ms)
        verdict.metrics.update(
            {
                "baseline_p95_ms": base["p95_ms"],
                "spike_p95_ms": spike["p95_ms"],
                "spike_error_rate_pct": spike["error_rate_pct"],
                "spike_rps": spike["rps"],
            }
        )
        if recovery is not None:
            verdict.metrics["recovery_s"] = round(recovery, 1)
            text = f"recovered in {recovery:.1f} s"
        else:
            text = "did not recover to baseline latency"
        text = (
            f"spike to {self.options.spike_users} users: {spike['error_rate_pct']:.1f}% errors, "
            f"p95 {spike['p95_ms']:.0f} ms (baseline {base['p95_ms']:.0f} ms); {text}"
        )
        limit = self.options.max_recovery
        if limit is not None and (recovery is None or recovery > limit):
            verdict.status = Status.FAILED
            verdict.summary = f"{text} (limit {limit:g} s); {verdict.summary}"
        else:
            verdict.summary = f"{verdict.summary}; {text}"
        verdict.notes.append(text)
        return verdict


WATCHERS: dict[str, type[Watcher]] = {
    "load": LoadWatcher,
    "soak": SoakWatcher,
    "stress": StressWatcher,
    "spike": SpikeWatcher,
}


def watcher_for(options: LoadOptions, progress: Progress) -> Watcher:
    return WATCHERS[options.profile](options, progress)


__all__ = ["Verdict", "Watcher", "watcher_for"]
