"""The figures of bench/pipelines.py, pure: what each pipeline got, when each run was
clicked, and the lines printed from them (percentiles, the goal, lost and doubled
decisions); and the peak RSS of a process from /proc."""

from __future__ import annotations

import math
import os
from collections import Counter
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path

GOAL_P99 = 2.0
"""Seconds: the p99 from a deciding click to a pipeline's answer the issue asks for."""
FINAL = ("go", "no-go", "expired", "cancelled", "superseded")


@dataclass(frozen=True)
class Options:
    pipelines: int = 500
    runs: int = 50
    cli: int = 20
    reject_every: int = 10
    workers: int = 2
    timeout: float = 3600.0
    webhooks: int = 0
    """GitHub deliveries sent at once (bench/pipelines_github.py)."""
    environments: int = 1
    """Environments the runs are spread over, each with its own Slack channel."""


@dataclass
class Pipeline:
    """One pipeline: its run (by index, then id), how it waits, and what it got."""

    index: int
    run: int
    cli: bool
    run_id: int | None = None
    verdict: str | None = None
    answered: float | None = None
    """Monotonic time of the final answer (the CLI: of its exit)."""
    exit_code: int | None = None
    waiting: bool = False
    """It has its run and waits (httpx: in its first long poll; CLI: its first progress line)."""
    retries: int = 0


@dataclass
class Figures:
    options: Options
    database: str
    pipelines: list[Pipeline] = field(default_factory=list)
    intended: dict[int, str] = field(default_factory=dict)
    """Run id -> the verdict its deciding click asked for."""
    clicked: dict[int, float] = field(default_factory=dict)
    """Run id -> monotonic time of its deciding click."""
    cli_cpu: float = 0.0
    """CPU seconds the CLI pipelines' processes used in all (rusage of reaped children)."""
    cli_cpu_before: float = 0.0
    """... of which before the first click (from /proc)."""
    acks: list[float] = field(default_factory=list)
    """Seconds each deciding click (or modal submission) took to be acknowledged."""
    reread: dict[int, str] = field(default_factory=dict)
    """Run id -> its decision read once more at the end."""
    announcements: dict[int, int] = field(default_factory=dict)
    channels: Counter[str] = field(default_factory=Counter)
    """Slack channel -> the runs announced in it."""
    rss_kib: dict[str, int] = field(default_factory=dict)
    waiting_at_once: int = 0
    started: float = 0.0
    finished: float = 0.0
    announced: float = 0.0
    timed_out: bool = False
    pids: list[int] = field(default_factory=list)
    """Every process the bench started (serve, its workers, the CLI pipelines)."""
    problems: list[str] = field(default_factory=list)
    slack_calls: Counter[tuple[str, int]] = field(default_factory=Counter)
    """(Web API method, status) -> calls the stand-in answered."""
    reclicks: int = 0
    """Clicks made again because the first was not acknowledged."""

    def lags(self, cli: bool) -> list[float]:
        """Seconds from each run's deciding click to each answer (CLI: each exit), sorted."""
        lags = []
        for p in self.pipelines:
            clicked = self.clicked.get(p.run_id) if p.run_id is not None else None
            if p.cli == cli and p.answered is not None and clicked is not None:
                lags.append(p.answered - clicked)
        return sorted(lags)

    def lost(self) -> list[Pipeline]:
        return [p for p in self.pipelines if p.verdict not in FINAL]

    def doubled(self) -> list[str]:
        found = []
        for run_id, intent in sorted(self.intended.items()):
            seen = {p.verdict for p in self.pipelines if p.run_id == run_id and p.verdict}
            seen |= {self.reread[run_id]} if run_id in self.reread else set()
            seen.discard("pending")  # not decided (yet): a lost decision, not a double
            if seen - {intent}:
                found.append(f"run {run_id}: clicked {intent}, seen {sorted(seen)}")
        found += [f"run {r}: {n} announcements" for r, n in self.announcements.items() if n > 1]
        return found

    def timeline(self) -> str:
        """When the clicks came and the announcements were done, from the first request
        (the Slack channel's pace decides both)."""
        if not self.clicked:
            return ""
        first, last = min(self.clicked.values()), max(self.clicked.values())
        text = f"; clicks from {first - self.started:.0f} s to {last - self.started:.0f} s"
        if self.announced:
            text += f", all announced at {self.announced - self.started:.0f} s"
        return text

    def lines(self) -> list[str]:
        o = self.options
        http, cli = self.lags(False), self.lags(True)
        met = bool(http) and pct(http, 99) < GOAL_P99 and (not cli or pct(cli, 99) < GOAL_P99)
        verdicts = Counter(self.intended.values())
        lines = [
            f"database            {self.database}; preprod serve --workers {o.workers}",
            f"pipelines           {o.pipelines} ({o.pipelines - o.cli} httpx waiters, "
            f"{o.cli} preprod request --wait) on {o.runs} runs; "
            f"{self.waiting_at_once} httpx ones in a long poll at once",
            f"slack               {o.environments} environments, each its own channel (one "
            "message a second per channel; chat.update Tier 3 for the workspace); "
            f"runs per channel {sorted(self.channels.values())}",
            f"decided by clicks   {len(self.clicked)} runs "
            f"({verdicts['go']} approved, {verdicts['no-go']} rejected); "
            f"{self.reclicks} clicks made again (not acknowledged)",
            figure_line("click -> answer", http),
            figure_line("click -> CLI exit", cli),
            figure_line("click -> its ack", sorted(self.acks)),
            f"goal p99 < {GOAL_P99:g} s    {'met' if met else 'NOT met'}",
            "peak RSS            "
            + ", ".join(f"{name} {kib / 1024:.0f} MiB" for name, kib in self.rss_kib.items()),
            f"decisions lost      {len(self.lost())}",
            f"decisions doubled   {len(self.doubled())}",
            f"announced           {sum(1 for n in self.announcements.values() if n)}"
            f"/{len(self.intended)}",
            f"CLI exit codes      {dict(Counter(p.exit_code for p in self.pipelines if p.cli))}",
            f"CLI processes' CPU  {self.cli_cpu:.1f} s in all, "
            f"{self.cli_cpu - self.cli_cpu_before:.1f} s of it after the first click"
            if self.cli_cpu
            else "CLI processes' CPU  n/a (not every CLI pipeline exited)",
            self.slack_line(),
            f"retried calls       {sum(p.retries for p in self.pipelines)} (409 while a key's "
            "first request starts, transport errors)",
            f"total time          {self.finished - self.started:.1f} s to the last answer"
            + (" (TIMED OUT)" if self.timed_out else "")
            + self.timeline(),
        ]
        lines += [f"  lost: pipeline {p.index} run {p.run_id}" for p in self.lost()[:10]]
        lines += [f"  doubled: {line}" for line in self.doubled()[:10]]
        lines += [f"  problem: {line}" for line in self.problems[:10]]
        return lines

    def slack_line(self) -> str:
        """What the runs cost in Slack calls: ``chat.update`` (Tier 3, for the whole
        workspace) sets the bench's pace."""
        calls = self.slack_calls
        runs = max(len(self.intended), 1)

        def ok(method: str) -> int:
            return calls[(method, 200)]

        limited = sum(n for (_, status), n in calls.items() if status == 429)
        return (
            f"slack calls         {ok('chat.postMessage')} chat.postMessage, "
            f"{ok('chat.update')} chat.update ({ok('chat.update') / runs:.2f} a decided run), "
            f"{limited} answered 429"
        )


def pct(values: list[float], q: float) -> float:
    """The nearest-rank percentile of sorted ``values``."""
    return values[max(math.ceil(q / 100 * len(values)) - 1, 0)]


def figure_line(name: str, lags: list[float]) -> str:
    if not lags:
        return f"{name:20}n=0"
    return (
        f"{name:20}n={len(lags):<4} first {lags[0] * 1000:6.0f} ms"
        f"  p50 {pct(lags, 50) * 1000:6.0f} ms  p99 {pct(lags, 99) * 1000:6.0f} ms"
        f"  max {lags[-1] * 1000:6.0f} ms"
    )


def peak_rss_kib(pid: int) -> int:
    """The process's peak resident set (VmHWM), 0 once it is gone."""
    with suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a live process has used so far (0 once it is gone)."""
    with suppress(OSError, IndexError, ValueError):
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return 0.0


def children(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        with suppress(OSError, IndexError):
            if entry.isdigit():
                stat = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
                if int(stat[1]) == pid:
                    found.append(int(entry))
    return found
