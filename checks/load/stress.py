"""The stress profile: the locustfile's shape steps the users up; each step's window is
judged against the thresholds, the first broken step stops the test, and the capacity
verdict compares the sustained rate with the expected peak."""

from __future__ import annotations

from dataclasses import dataclass, field

from checks.base import Status
from checks.load.options import LoadOptions
from checks.load.stats import FinalStats, Sample, Window
from checks.load.thresholds import Outcome, evaluate
from checks.load.watching import Progress, Verdict, Watcher


@dataclass
class Step:
    users: int
    window: Window = field(default_factory=Window)
    tasks: dict[str, Window] = field(default_factory=dict)
    outcomes: list[Outcome] = field(default_factory=list)
    evaluated: bool = False

    @property
    def ok(self) -> bool:
        return all(o.passed for o in self.outcomes)


class StressWatcher(Watcher):
    """Steps the users up (the locustfile's shape does the stepping); judges each step's
    window against the thresholds and stops at the first broken step."""

    def __init__(self, options: LoadOptions, progress: Progress) -> None:
        super().__init__(options, progress)
        self.step_s = float(options.step_duration or 1)
        self.settle_s = min(1.0, self.step_s / 4)
        self.steps = [Step(users) for users in options.stress_steps()]
        self.breaking: Step | None = None

    def index(self, sample: Sample) -> int:
        return int(self.elapsed(sample) // self.step_s)

    def phase(self, sample: Sample) -> str:
        i = min(self.index(sample), len(self.steps) - 1)
        return f"step {i + 1}/{len(self.steps)} ({self.steps[i].users} users): "

    def _judge(self, step: Step) -> None:
        step.evaluated = True
        step.outcomes = evaluate(list(self.options.thresholds), step.window.figures())
        for name, thresholds in self.options.task_thresholds.items():
            window = step.tasks.get(name, Window())
            for o in evaluate(list(thresholds), window.figures()):
                if not o.passed:
                    step.outcomes.append(o)

    def observe(self, sample: Sample) -> str | None:
        if self.breaking is not None:
            return None
        i = self.index(sample)
        into = self.elapsed(sample) - i * self.step_s
        for step in self.steps[:i]:
            if not step.evaluated:
                self._judge(step)
                if not step.ok:
                    self.breaking = step
                    broken = "; ".join(o.describe() for o in step.outcomes if not o.passed)
                    return f"breaking point at {step.users} users: {broken}"
        if i < len(self.steps) and into >= self.settle_s:
            step = self.steps[i]
            step.window.add(sample.total)
            for name, window in sample.tasks.items():
                step.tasks.setdefault(name, Window()).add(window)
        return None

    def verdict(self, final: FinalStats) -> Verdict:
        if self.breaking is None:  # judge the last step if it ran long enough
            for step in self.steps:
                if not step.evaluated and step.window.seconds >= self.step_s / 2:
                    self._judge(step)
                    if not step.ok:
                        self.breaking = step
                        break
        figures = final.total.figures()
        judged = [s for s in self.steps if s.evaluated]
        good = [s for s in judged if s.ok and s is not self.breaking]
        if self.breaking is not None:
            good = [s for s in good if s.users < self.breaking.users]
        last_good = good[-1] if good else None
        sustained = last_good.window.rps if last_good else 0.0
        metrics = dict(figures)
        # One throughput figure: the sustained one (the last step that held). The whole
        # test's average, ramp included, would be a second "throughput" that disagrees.
        metrics.pop("rps", None)
        metrics["steps_run"] = float(len(judged))
        metrics["sustained_rps"] = round(sustained, 2)
        metrics["last_good_users"] = float(last_good.users if last_good else 0)
        notes = []
        for s in judged:
            f = s.window.figures()
            verdict_word = "ok" if s.ok else "BROKEN"
            notes.append(
                f"step {s.users:>5} users: {f['rps']:8.1f} rps  p95 {f['p95_ms']:6.0f} ms  "
                f"errors {f['error_rate_pct']:5.1f}%  {verdict_word}"
            )
        top = self.breaking or (judged[-1] if judged else None)
        # ``users`` is the load the verdict is about (the breaking step's, else the last
        # judged step's), so it agrees with ``breaking_users``; the overshoot is a note.
        metrics["users"] = float(top.users if top else 0)
        if top is not None and self.peak_users > top.users:
            notes.append(
                f"Locust had reached {self.peak_users} users when it stopped: a step is "
                f"judged once it is over, so the next had begun; the verdict covers the "
                f"steps up to {top.users} users"
            )
        if self.breaking is not None:
            metrics["breaking_users"] = float(self.breaking.users)
            broken = "; ".join(o.describe() for o in self.breaking.outcomes if not o.passed)
            where = f"breaking point at {self.breaking.users} users ({broken})"
        else:
            where = f"no breaking point up to {top.users if top else 0} users"
        if last_good is not None:
            where += f"; sustained throughput {sustained:.1f} req/s at {last_good.users} users"
        status = Status.PASSED
        if last_good is None:
            status = Status.FAILED
            where = f"no step held its thresholds: {where}"
        capacity = self.options.capacity
        if capacity is not None:
            ratio = sustained / capacity.expected_peak_rps
            metrics["headroom_ratio"] = round(ratio, 2)
            metrics["required_rps"] = round(capacity.required_rps, 2)
            enough = sustained >= capacity.required_rps
            where += (
                f"; headroom {ratio:.2f}x expected peak {capacity.expected_peak_rps:g} rps "
                f"(need {capacity.safety_margin:g}x = {capacity.required_rps:g} rps): "
                + ("ok" if enough else "insufficient capacity")
            )
            if not enough:
                status = Status.FAILED
        outcomes = (self.breaking or last_good or Step(0)).outcomes
        return Verdict(status, where, metrics, outcomes, {}, notes)
