"""The base of every profile: fed the timeline samples while Locust runs, it sends live
figures, keeps the whole-test bookkeeping, stops a clearly broken test when asked to
(``abort_on_fail``) and judges thresholds over the whole test. No I/O of its own."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from checks.base import Status
from checks.load.options import LoadOptions
from checks.load.stats import FinalStats, Sample, Window
from checks.load.thresholds import Outcome, evaluate, summarize

Progress = Callable[[str, dict[str, float]], None]

ABORT_MIN_REQUESTS = 50
ABORT_MIN_SECONDS = 5.0


@dataclass
class Verdict:
    status: Status
    summary: str
    metrics: dict[str, float] = field(default_factory=dict)
    outcomes: list[Outcome] = field(default_factory=list)
    task_outcomes: dict[str, list[Outcome]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def _describe_live(window: Window, users: int) -> tuple[str, dict[str, float]]:
    figures = window.figures()
    text = (
        f"throughput now {figures['rps']:.0f} req/s, p95 {figures['p95_ms']:.0f} ms, "
        f"{figures['error_rate_pct']:.1f}% errors, {users} users"
    )
    return text, {
        "rps": figures["rps"],
        "p95_ms": figures["p95_ms"],
        "error_rate_pct": figures["error_rate_pct"],
        "users": float(users),
    }


class Watcher:
    """Shared behaviour: live figures every ``progress_interval`` and the whole-test
    bookkeeping. Subclasses add their profile's windows and verdict."""

    def __init__(self, options: LoadOptions, progress: Progress) -> None:
        self.options = options
        self.progress = progress
        self.recent: deque[Sample] = deque()
        self.cumulative = Window()
        self.task_cumulative: dict[str, Window] = {}
        self.t0: float | None = None
        self.peak_users = 0
        self.by_users: dict[int, tuple[int, int]] = {}
        """Requests and failures by the users active then (for checks/guidance.py)."""
        self._last_progress = 0.0

    # -- feeding ---------------------------------------------------------------

    def elapsed(self, sample: Sample) -> float:
        """Seconds since the test started (the first sample with users), mid-interval."""
        assert self.t0 is not None
        return sample.t - self.t0 - sample.total.seconds / 2

    def feed(self, sample: Sample) -> str | None:
        if self.t0 is None:
            if sample.users == 0 and sample.total.requests == 0:
                return None  # still waiting for workers / spawning
            self.t0 = sample.t - sample.total.seconds
        self.peak_users = max(self.peak_users, sample.users)
        self.cumulative.add(sample.total)
        requests, failures = self.by_users.get(sample.users, (0, 0))
        self.by_users[sample.users] = (
            requests + sample.total.requests,
            failures + sample.total.failures,
        )
        for name, window in sample.tasks.items():
            self.task_cumulative.setdefault(name, Window()).add(window)
        self.recent.append(sample)
        span = max(float(self.options.progress_interval), 3.0)
        while self.recent and sample.t - self.recent[0].t >= span:
            self.recent.popleft()
        due = sample.t - self._last_progress >= float(self.options.progress_interval)
        if due and sample.users > 0:  # no figures from the shutdown
            self._last_progress = sample.t
            window = Window()
            for s in self.recent:
                window.add(s.total)
            text, figures = _describe_live(window, sample.users)
            self.progress(self.phase(sample) + text, figures)
        return self.observe(sample)

    def phase(self, sample: Sample) -> str:
        return ""

    def observe(self, sample: Sample) -> str | None:
        """Profile hook: return a reason to stop the test now."""
        return self.abort_check(sample)

    def abort_check(self, sample: Sample) -> str | None:
        if not self.options.abort_on_fail:
            return None
        if self.cumulative.requests < ABORT_MIN_REQUESTS:
            return None
        if self.elapsed(sample) < min(ABORT_MIN_SECONDS, self.options.planned_seconds() / 4):
            return None
        judged = [t for t in self.options.thresholds if t.metric != "rps"]
        broken = [o for o in evaluate(judged, self.cumulative.figures()) if not o.passed]
        for name, thresholds in self.options.task_thresholds.items():
            window = self.task_cumulative.get(name)
            if window is None or window.requests < ABORT_MIN_REQUESTS // 5:
                continue
            judged = [t for t in thresholds if t.metric != "rps"]
            broken += [o for o in evaluate(judged, window.figures()) if not o.passed]
        if broken:
            return "aborted early: " + "; ".join(o.describe() for o in broken)
        return None

    # -- verdict ---------------------------------------------------------------

    def whole_test(self, final: FinalStats) -> Verdict:
        """Thresholds on the whole test and per task (load, soak, spike)."""
        figures = final.total.figures()
        outcomes = evaluate(list(self.options.thresholds), figures)
        task_outcomes: dict[str, list[Outcome]] = {}
        for name, thresholds in self.options.task_thresholds.items():
            window = final.tasks.get(name, Window())
            task_outcomes[name] = evaluate(list(thresholds), window.figures())
        broken = [o for o in outcomes if not o.passed]
        broken_tasks = [(n, o) for n, os in task_outcomes.items() for o in os if not o.passed]
        parts = []
        if outcomes:
            parts.append(summarize(outcomes))
        for name, o in broken_tasks:
            parts.append(f"{name}: {o.describe()}")
        if not parts:
            parts.append(
                f"throughput {figures['rps']:.1f} req/s, p95 {figures['p95_ms']:.0f} ms, "
                f"{figures['error_rate_pct']:.1f}% errors"
            )
        status = Status.FAILED if broken or broken_tasks else Status.PASSED
        return Verdict(status, "; ".join(parts), figures, outcomes, task_outcomes)

    def verdict(self, final: FinalStats) -> Verdict:
        return self.whole_test(final)
