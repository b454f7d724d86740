"""The figures of ``bench/chaos.py``, tallied once the kills are over: from the
database, the stand-in's messages, the target's own counters and the serve logs."""

from __future__ import annotations

import argparse
import json
import re
from collections import Counter, defaultdict
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.engine import Engine

from examples.target.launch import RunningTarget
from slack_standin import Message, SlackStandIn

CHANNEL = "C0RELEASES"
HTTP_CHECKS = {"version": ("/version", 1), "items": ("/api/items", 2),
               "item": ("/api/items/{id}", 1), "health": ("/healthz", 1)}  # fmt: skip
"""Each light check of the plan: the target route it alone requests, and how often."""
CHECKS = ("version", "items", "load", "item", "health")
LEASE_LOST = re.compile(r"lost the lease of run|lost its lease mid-run")
FINAL = {"passed", "failed", "error", "skipped", "interrupted", "warning"}
ORPHAN_GRACE = 3.0


@dataclass
class Click:
    run_id: int
    role: str
    user: str
    sent_to: int
    status: int | None
    at: float
    error: str = ""


@dataclass
class Kill:
    number: int
    mode: str
    slot: int
    pid: int
    at: float
    interrupted: list[tuple[int, str]]
    detail: str = ""


@dataclass
class Figures:
    starts_sent: int = 0
    starts_acked: int = 0
    starts_failed: list[str] = field(default_factory=list)
    releases: dict[str, int | None] = field(default_factory=dict)
    """service -> run id (None: no run stored)."""
    clicks: list[Click] = field(default_factory=list)
    kills: list[Kill] = field(default_factory=list)
    changed_results: list[str] = field(default_factory=list)
    orphans: set[int] = field(default_factory=set)
    timeouts: list[str] = field(default_factory=list)
    restarts_failed: list[str] = field(default_factory=list)


@dataclass
class Observed:
    """What the chaos run leaves to be counted."""

    args: argparse.Namespace
    tmp: Path
    figures: Figures
    standin: SlackStandIn
    target: RunningTarget
    db: Engine
    wall_start: float
    elapsed: float
    locust_at_end: dict[int, int]


class Tally:
    def __init__(self, seen: Observed) -> None:
        self.seen = seen
        self.args, self.tmp, self.figures = seen.args, seen.tmp, seen.figures
        self.standin, self.target, self.wall_start = seen.standin, seen.target, seen.wall_start
        self.locust_at_end = seen.locust_at_end

    def query(self, sql: str, **params: Any) -> list[tuple[Any, ...]]:
        with self.seen.db.connect() as connection:
            return [tuple(row) for row in connection.execute(text(sql), params)]

    def keyed(self, key: str) -> list[Message]:
        return keyed(self.standin, key)

    def lines(self) -> list[str]:
        f = self.figures
        elapsed = self.seen.elapsed
        runs = self.query("SELECT id, service, status FROM run ORDER BY id")
        records = self.query("SELECT run_id, check_id, attempt, status FROM checkrecord")
        by_run: dict[int, dict[str, list[tuple[int, str]]]] = defaultdict(lambda: defaultdict(list))
        for run_id, check_id, attempt, status in records:
            by_run[int(run_id)][str(check_id)].append((int(attempt), str(status).lower()))
        finished = [int(r) for r, _, s in runs if str(s).upper() == "FINISHED"
                    and all(a[-1][1] in FINAL for a in by_run[int(r)].values())
                    and set(by_run[int(r)]) == set(CHECKS)]  # fmt: skip
        not_finished = [f"run {r} ({s}; checks {dict(by_run[int(r)])})"
                        for r, _, s in runs if int(r) not in finished]  # fmt: skip
        decisions = dict(self.query("SELECT run_id, outcome FROM decisionrecord"))
        announced_rows = self.query(
            "SELECT run_id FROM decisionrecord WHERE announcement_ts IS NOT NULL"
        )
        announced = {int(r) for (r,) in announced_rows}
        messages = self.standin.channel(CHANNEL).all_messages
        keys = Counter(k for m in messages if (k := message_key(m)) is not None)
        duplicates = {k: n for k, n in keys.items() if n > 1}
        unkeyed = [m for m in messages if message_key(m) is None]
        run_ids = [int(r) for r, _, _ in runs]
        parents = {r: keys.get(f"run:{r}:parent", 0) for r in run_ids}
        tops = {r: keys.get(f"run:{r}:decision", 0) for r in run_ids}
        in_thread = {r: keys.get(f"run:{r}:decision:thread", 0) for r in run_ids}
        announced_in_slack = [r for r in announced if tops.get(r) and in_thread.get(r)]
        # A start whose ack a kill cut off may still have stored its run (stored before the
        # ack, never after); the person then tried again and signs the retry's run, so the
        # first waits for people: listed apart, not as a run the bot failed to decide.
        retried = {failure.split(":", 1)[0] for failure in f.starts_failed}
        signed_runs = {r for r in f.releases.values() if r is not None}
        service_of = {int(r): str(s) for r, s, _ in runs}
        unsigned_retries = [
            r for r in run_ids
            if r not in announced_in_slack and r not in signed_runs and service_of[r] in retried
        ]  # fmt: skip
        attempts = [
            f"run {r} {c}: attempts {sorted(a for a, _ in v)}"
            for r, checks in by_run.items()
            for c, v in checks.items()
            if len(v) > 1
        ]
        # the target's own counters against the plan
        served = target_counts(self.target)
        interrupted = Counter(check for kill in f.kills for _, check in kill.interrupted)
        executed: Counter[str] = Counter()
        for checks in by_run.values():
            for check, versions in checks.items():
                if versions[-1][1] in FINAL - {"skipped", "interrupted"}:
                    executed[check] += 1
        path_lines, over = [], []
        for check, (path, per) in HTTP_CHECKS.items():
            low, high = per * executed[check], per * (executed[check] + interrupted[check])
            got = served.get(path, 0)
            verdict = "ok" if low <= got <= high else ("OVER" if got > high else "UNDER")
            if got > high:
                over.append(f"{path}: {got - high} more than allowed")
            path_lines.append(f"{path} {got} (allowed {low}-{high}) {verdict}")
        acked = [c for c in f.clicks if c.status == 200]
        signed = {(int(r), str(role), str(u)) for r, role, u in
                  self.query('SELECT run_id, role, "user" FROM signoff')}  # fmt: skip
        missing = [c for c in acked if (c.run_id, c.role, c.user) not in signed]
        told = [c for c in missing if self.told(c)]
        lost = [c for c in missing if c not in told]
        unacked = [c for c in f.clicks if c.status != 200]
        orphans_end = self.locust_at_end
        # a live process that stalled past its lease (another resumed the run meanwhile)
        lost_leases = [
            f"{log.name}: {line.strip()}"
            for log in sorted(self.tmp.glob("serve-*.log"))
            for line in log.read_text(errors="replace").splitlines()
            if LEASE_LOST.search(line)
        ]
        lost_runs = [s for s, r in f.releases.items() if r is None]
        modes = Counter(k.mode for k in f.kills)
        interrupted_total = sum(len(k.interrupted) for k in f.kills)
        lines = [
            "",
            f"chaos: {self.args.replicas} replicas of preprod serve on PostgreSQL, seed "
            f"{self.args.seed}, lease TTL {self.args.lease_ttl:g}s, {self.args.parallel} "
            "releases at a time",
            f"kills                         {len(f.kills)} of {self.args.kills} ("
            + ", ".join(f"{m}: {n}" for m, n in sorted(modes.items()))
            + f"); "
            f"{interrupted_total} checks interrupted; restarts failed: "
            f"{len(f.restarts_failed)}",
            f"runs started                  {f.starts_acked} acked starts ({f.starts_sent} sent,"
            f" {len(f.starts_failed)} not acked), {len(runs)} runs stored",
            f"runs finished (checks done)   {len(finished)} of {len(runs)}",
            f"runs decided and announced    {len(announced_in_slack)} of {len(runs)} "
            f"(decided {len(decisions)}: "
            + ", ".join(f"{o} {n}" for o, n in sorted(Counter(decisions.values()).items()))
            + f"; announcement recorded {len(announced)})"
            + (
                f"; {len(unsigned_retries)} more await sign-offs: stored by a start whose ack a"
                f" kill cut off, retried as another run, which was signed (runs "
                f"{', '.join(map(str, unsigned_retries))})"
                if unsigned_retries
                else ""
            ),
            f"results lost                  {len(f.changed_results) + len(attempts) + len(over)}"
            f" (final results changed {len(f.changed_results)}, checks with >1 attempt "
            f"{len(attempts)}, target paths over the plan {len(over)})",
            f"  target /metrics vs plan     {'; '.join(path_lines)}",
            f"leases lost by a live replica {len(lost_leases)}"
            + (f" ({'; '.join(lost_leases)})" if lost_leases else ""),
            f"sign-offs lost                {len(lost)} (acked clicks {len(acked)}, not acked "
            f"{len(unacked)}, acked but refused and told privately {len(told)})",
            f"duplicate messages            {sum(n - 1 for n in duplicates.values())} "
            f"({len(keys)} keyed messages, {len(unkeyed)} without a key); parents per run "
            f"{dict(sorted(Counter(parents.values()).items()))}, channel announcements per "
            f"run {dict(sorted(Counter(tops.values()).items()))}, thread announcements per "
            f"run {dict(sorted(Counter(in_thread.values()).items()))}",
            f"orphan Locust processes       {len(f.orphans | set(orphans_end))} (owner gone "
            f">{ORPHAN_GRACE:g}s during the run: {len(f.orphans)}; left at the end: "
            f"{len(orphans_end)})",
            f"releases lost (acked, no run) {len(lost_runs)}; waits given up {len(f.timeouts)}",
            f"elapsed                       {elapsed:.0f}s",
        ]
        undecided = [
            self.undecided(r)
            for r in run_ids
            if r not in announced_in_slack and r not in unsigned_retries
        ]
        details = [
            *(f"  not finished: {line}" for line in not_finished),
            *(f"  not announced: {line}" for line in undecided),
            *(f"  result changed: {line}" for line in f.changed_results),
            *(f"  more than one attempt: {line}" for line in attempts),
            *(f"  over the plan: {line}" for line in over),
            *(
                f"  duplicate key {k}: {n} messages; {self.posts_of(k)}"
                for k, n in sorted(duplicates.items())
            ),
            *(
                f"  sign-off lost: run {c.run_id} {c.role} by {c.user}, acked by replica "
                f"{c.sent_to}"
                for c in lost
            ),
            *(f"  refused: run {c.run_id} {c.role}: {self.told(c)}" for c in told),
            *(f"  no run stored for the acked start of {s}" for s in lost_runs),
            *(f"  gave up: {t}" for t in f.timeouts),
            *(f"  start not acked: {s}" for s in f.starts_failed[:10]),
            *(f"  orphan Locust pid {p}" for p in sorted(f.orphans | set(orphans_end))),
        ]
        if details:
            lines += ["details:", *details]
        return lines

    def undecided(self, run_id: int) -> str:
        """What a run without an announcement has: its state, the kills around its end,
        its outbox rows (sent or only intended) and the keys Slack shows."""
        status, finished = self.query(
            "SELECT status, extract(epoch FROM finished_at) FROM run WHERE id = :r", r=run_id
        )[0]
        at = f"{float(finished) - self.wall_start:.1f}s" if finished is not None else "-"
        outbox = self.query("SELECT key, ts IS NOT NULL FROM outboxmessage WHERE run_id = :r"
                            " ORDER BY at", r=run_id)  # fmt: skip
        rows = ", ".join(f"{k.split(':', 2)[-1]}{'' if sent else ' (unsent)'}"
                         for k, sent in outbox)  # fmt: skip
        shown = sorted({k.split(":", 2)[-1] for m in self.standin.channel(CHANNEL).all_messages
                        if (k := message_key(m)) and k.startswith(f"run:{run_id}:")})  # fmt: skip
        thread = self.query("SELECT gate_ts FROM slackthread WHERE run_id = :r", r=run_id)
        clicks = [c for c in self.figures.clicks if c.run_id == run_id]
        return (f"run {run_id} {status} finished at {at}; outbox [{rows}]; in Slack "
                f"{shown}; gate_ts {thread[0][0] if thread else None}; clicks "
                f"{[(c.role, c.status or c.error) for c in clicks]}")  # fmt: skip

    def posts_of(self, key: str) -> str:
        """When each message under ``key`` was posted (seconds since the start), and the
        look-ups of the channel or thread (history/replies) the bot made around them."""
        posts = [c.at - self.wall_start for c in self.standin.calls_to("chat.postMessage")
                 if key_of_args(c.args) == key and c.ok]  # fmt: skip
        if not posts:
            return "no post recorded"
        looks = [f"{c.method.split('.')[1]} {c.at - self.wall_start:.1f}s"
                 for c in self.standin.calls
                 if c.method in ("conversations.replies", "conversations.history")
                 and posts[0] - 1 <= c.at - self.wall_start <= posts[-1] + 1]  # fmt: skip
        return (
            f"posted at {', '.join(f'{t:.2f}s' for t in posts)}; look-ups around them: "
            f"{looks or 'none'}"
        )

    def told(self, click: Click) -> str:
        """The private notice the clicker got about this run, if any ('' if none)."""
        parent = self.keyed(f"run:{click.run_id}:parent")
        thread = {m.ts for m in parent}
        for message in self.standin.ephemerals(click.user):
            if message.thread_ts in thread:
                return message.text[:100]
        return ""


def keyed(standin: SlackStandIn, key: str) -> list[Message]:
    """The release channel's messages (and replies) carrying outbox ``key``."""
    return [m for m in standin.channel(CHANNEL).all_messages if message_key(m) == key]


def message_key(message: Message) -> str | None:
    metadata = message.metadata or {}
    if metadata.get("event_type") != "preprod_message":
        return None
    key = (metadata.get("event_payload") or {}).get("key")
    return key if isinstance(key, str) else None


def key_of_args(args: dict[str, Any]) -> str | None:
    metadata = args.get("metadata")
    if isinstance(metadata, str):
        with suppress(ValueError):
            metadata = json.loads(metadata)
    if not isinstance(metadata, dict) or metadata.get("event_type") != "preprod_message":
        return None
    key = (metadata.get("event_payload") or {}).get("key")
    return key if isinstance(key, str) else None


def target_counts(target: RunningTarget) -> dict[str, int]:
    """Requests the target answered per route (its own Prometheus counters)."""
    body = httpx.get(f"{target.http_url}/metrics", timeout=10).text
    counts: Counter[str] = Counter()
    for path, count in re.findall(r'http_requests_total\{path="([^"]*)",status="\d+"\} (\d+)',
                                  body):  # fmt: skip
        counts[path] += int(count)
    return dict(counts)
