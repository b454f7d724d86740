"""The figures of ``bench/chaos.py --faults``: what one fault left behind, counted from the
records (the database's runs, checks and sign-offs, the stand-in's messages and
ephemerals, the target's own request counters, the serve logs), and the table.

Pure: ``bench/faults.py`` gathers a ``FaultRecord``; ``row`` and ``table`` count it."""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from dataclasses import dataclass, field

from bench.chaos_tally import FINAL
from bench.faults_plan import PATHS, PLANS

ACK_WINDOW = 3.0
"""Slack shows the person an error when the bot has not answered within 3 s."""
STARTED = "Starting the validation"
"""What the bot's ack of ``/preprod start`` says when it stored the run."""


@dataclass
class Interaction:
    """A click or a ``/preprod start`` sent while the fault lasted, and what came of it."""

    kind: str  # "click" or "start"
    user: str
    subject: str  # "run 1 sre", or the service started
    at: float  # seconds since the fault began
    status: int | None = None
    elapsed: float | None = None
    error: str = ""
    said: list[str] = field(default_factory=list)
    """Private messages the person got within a few seconds (the ack body included)."""
    recorded: bool | None = None
    """The sign-off, or a run of the service, in the database after the recovery."""
    sent: float = 0.0
    """When it was sent (epoch seconds): a click counts as recorded only by a sign-off
    stored before the same person's next click on it (which may have been the one)."""


def mark_clicks(clicks: list[Interaction], signed_at: dict[tuple[int, str, str], float]) -> None:
    """Set ``recorded`` on each click (``subject`` "run N role") from the sign-offs' first
    storing time per (run, role, user): stored before the person's next click there."""
    ordered = sorted(clicks, key=lambda i: i.sent)
    for n, click in enumerate(ordered):
        _, run, role = click.subject.split()
        later = [i.sent for i in ordered[n + 1 :] if (i.subject, i.user) == (click.subject,
                                                                           click.user)]  # fmt: skip
        first = signed_at.get((int(run), role, click.user))
        click.recorded = first is not None and first <= min(later, default=math.inf)


def judge(i: Interaction) -> tuple[bool, str]:
    """Honest (a 200 within 3 s, and either recorded or the person told it was not) or
    silent, and why."""
    if i.error:
        return False, f"no answer ({i.error})"
    if i.status != 200:
        return False, f"HTTP {i.status}"
    if i.elapsed is not None and i.elapsed > ACK_WINDOW:
        return False, f"answered after {i.elapsed:.1f}s"
    if i.recorded:
        return True, "recorded"
    claims = [s for s in i.said if i.kind == "start" and STARTED in s]
    if claims:
        return False, f"not recorded, but the ack said {claims[0][:70]!r}"
    if i.said:
        return True, f"not recorded, told {i.said[-1][:70]!r}"
    return False, "200, not recorded, nothing said"


@dataclass
class FaultRecord:
    """Everything one fault scenario observed, for counting."""

    name: str
    injected: str = ""  # how the fault was made, e.g. "pg_ctl stop -m fast for 20 s"
    skipped: str = ""  # why the fault could not be made (then nothing else counts)
    interactions: list[Interaction] = field(default_factory=list)
    runs: list[tuple[int, str, str, str]] = field(default_factory=list)
    """id, service, environment, status."""
    checks: list[tuple[int, str, int, str]] = field(default_factory=list)
    """run id, check id, attempt, status."""
    changed: list[str] = field(default_factory=list)
    """Final check results that later changed or vanished."""
    served: dict[str, int] = field(default_factory=dict)
    """The target's requests per route."""
    keys: dict[str, int] = field(default_factory=dict)
    """The stand-in's release-channel messages per outbox key."""
    takeovers: list[str] = field(default_factory=list)
    """Runs another process took while their owner was alive (and why we think so)."""
    recovered_after: float | None = None
    """Seconds from the fault's end until no stored run was still running."""
    problems: list[str] = field(default_factory=list)
    """What the harness itself could not do (a wait given up, a query refused)."""


@dataclass
class Row:
    name: str
    finished: int
    runs: int
    lost: int
    honest: int
    silent: int
    duplicates: int
    doubled: int
    takeovers: int
    details: list[str]
    skipped: str = ""
    problems: int = 0
    """Waits the harness gave up (the fault may not have been what it says)."""

    @property
    def met(self) -> bool:
        return (
            not self.skipped
            and self.runs > 0
            and self.finished == self.runs
            and not (self.lost or self.silent or self.duplicates or self.doubled)
            and not self.problems
        )


def latest(checks: list[tuple[int, str, int, str]]) -> dict[tuple[int, str], tuple[int, str]]:
    """(run, check) -> (attempts, the latest attempt's status)."""
    out: dict[tuple[int, str], tuple[int, str]] = {}
    seen: dict[tuple[int, str], list[tuple[int, str]]] = defaultdict(list)
    for run_id, check_id, attempt, status in checks:
        seen[(run_id, check_id)].append((attempt, status.lower()))
    for key, attempts in seen.items():
        out[key] = (len(attempts), max(attempts)[1])
    return out


def row(record: FaultRecord) -> Row:
    if record.skipped:
        return Row(record.name, 0, 0, 0, 0, 0, 0, 0, 0, [], record.skipped)
    checks = latest(record.checks)
    details: list[str] = []
    finished = 0
    never_final: list[str] = []
    environment_of = {run_id: environment for run_id, _, environment, _ in record.runs}
    for run_id, service, environment, status in record.runs:
        wanted = tuple(PLANS.get(environment, {}))
        missing = [c for c in wanted if checks.get((run_id, c), (0, "absent"))[1] not in FINAL]
        never_final += [f"run {run_id} {c}: {checks.get((run_id, c), (0, 'absent'))[1]}"
                        for c in missing]  # fmt: skip
        if status.upper() == "FINISHED" and not missing:
            finished += 1
        else:
            states = {c: checks.get((run_id, c), (0, "absent"))[1] for c in wanted}
            details.append(f"not finished: run {run_id} ({service}) {status} {states}")
    details += [f"result changed: {line}" for line in record.changed]
    details += [f"no final result: {line}" for line in never_final]
    again = [f"run {r} {c}: {n} attempts" for (r, c), (n, _) in sorted(checks.items()) if n > 1]
    allowed: Counter[str] = Counter()
    per_run: dict[str, int] = {}  # requests of one execution, in the plans of these runs
    for _, _, environment, _ in record.runs:
        for check, per in PLANS.get(environment, {}).items():
            per_run[check] = max(per_run.get(check, 1), per)
    for (run_id, check), (_, status) in checks.items():
        per = PLANS.get(environment_of.get(run_id, ""), {}).get(check, 0)
        if status in FINAL - {"skipped", "interrupted"}:
            allowed[check] += per
    over = 0
    for check, path in PATHS.items():
        got = record.served.get(path, 0)
        if got > allowed[check]:
            over += math.ceil((got - allowed[check]) / per_run.get(check, 1))
            details.append(f"served more than the plan: {path} {got} (plan {allowed[check]})")
    details += [f"more than one attempt: {line}" for line in again]
    duplicates = {k: n for k, n in record.keys.items() if n > 1}
    details += [f"duplicate message: {k} x{n}" for k, n in sorted(duplicates.items())]
    honest = silent = 0
    for i in record.interactions:
        ok, why = judge(i)
        honest, silent = honest + ok, silent + (not ok)
        answer = i.error or i.status
        elapsed = f"{i.elapsed:.2f}s" if i.elapsed is not None else "-"
        details.append(f"{'honest' if ok else 'SILENT'}: {i.kind} {i.subject} at +{i.at:.1f}s"
                       f" -> {answer} in {elapsed}: {why}")  # fmt: skip
    details += [f"taken over while live: {t}" for t in record.takeovers]
    details += [f"harness: {p}" for p in record.problems]
    if record.recovered_after is not None:
        details.append(f"no run running {record.recovered_after:.1f}s after the fault ended")
    return Row(
        record.name,
        finished,
        len(record.runs),
        len(record.changed) + len(never_final),
        honest,
        silent,
        sum(n - 1 for n in duplicates.values()),
        max(len(again), over),
        len(record.takeovers),
        details,
        problems=len(record.problems),
    )


HEADER = ("fault", "runs finished", "results lost", "honest", "silent", "duplicates",
          "checks twice", "taken live", "goal")  # fmt: skip
GOAL = "goal: every run finished, 0 lost, 0 silent, 0 duplicates, 0 checks twice"


def table(records: list[FaultRecord]) -> list[str]:
    """One row per fault, then what each injected and the details behind the figures."""
    rows = [row(r) for r in records]
    cells = [HEADER]
    for r in rows:
        if r.skipped:
            cells.append((r.name, "-", "-", "-", "-", "-", "-", "-", "not run"))
            continue
        cells.append((r.name, f"{r.finished}/{r.runs}", str(r.lost), str(r.honest),
                      str(r.silent), str(r.duplicates), str(r.doubled), str(r.takeovers),
                      "met" if r.met else "NOT MET"))  # fmt: skip
    widths = [max(len(c[i]) for c in cells) for i in range(len(HEADER))]
    lines = ["", GOAL, "(honest/silent: clicks and /preprod start sent during the fault)"]
    lines += ["  ".join(c.ljust(w) for c, w in zip(cell, widths, strict=True)).rstrip()
              for cell in cells]  # fmt: skip
    for record, r in zip(records, rows, strict=True):
        lines.append(f"{r.name}: {record.skipped or record.injected}")
        lines += [f"  {d}" for d in r.details]
    return lines
