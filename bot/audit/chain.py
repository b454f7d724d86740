"""The audit chain, pure: every event carries the SHA-256 of the one before it, so a
changed, deleted, inserted or reordered row shows as a broken link.

An event's hash covers the canonical JSON (sorted keys, no spaces, UTF-8) of its sequence
number, time, run, actor, action, details and the previous event's hash. Anyone holding
the database can recompute hashes, so a forger who rewrites *every* event after the one
they change stays consistent; the chain head recorded elsewhere (an evidence pack's
manifest, ``preprod audit verify --head``) catches that and a truncated tail."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Protocol

GENESIS = "0" * 64
"""The previous hash of the first event."""

MAX_TEXT = 2000
"""Longest text kept in an event's details; longer text is cut (the row holds the rest)."""

RENUMBER_SEARCH = 1000
"""How far a renumbered event's original sequence number is searched for."""


class Action(StrEnum):
    RUN_STARTED = "run.started"
    RUN_REFUSED = "run.refused"
    CHECK_FINISHED = "check.finished"
    RUN_FINISHED = "run.finished"
    RUN_CANCELLED = "run.cancelled"
    RUN_FAILED = "run.failed"
    RUN_RERUN = "run.rerun"
    SIGNOFF = "gate.signoff"
    REJECT = "gate.reject"
    WAIVER = "gate.waiver"
    ATTESTATION = "gate.attestation"
    DECISION = "gate.decision"
    REOPEN = "gate.reopen"
    """A decision set aside: a re-run continues a run a failed stage ended (early NO-GO)."""
    OUTCOME = "production.outcome"
    REMINDER_SENT = "reminder.sent"


@dataclass(frozen=True)
class Entry:
    """One audit event as stored."""

    seq: int
    at: datetime
    run_id: int | None
    actor: str
    action: str
    details: Mapping[str, Any]
    prev_hash: str
    hash: str

    def as_json(self) -> dict[str, Any]:
        """The event as one JSON line of an export (what :func:`from_json` reads back)."""
        return {**_content(self), "hash": self.hash}

    def describe(self) -> str:
        """``#12 gate.signoff on run 7 by U0SRE1 at 2026-11-30T08:00:00+00:00``."""
        run = f" on run {self.run_id}" if self.run_id is not None else ""
        return f"#{self.seq} {self.action}{run} by {self.actor} at {_time(self.at)}"


def _time(at: datetime) -> str:
    aware = at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)
    return aware.isoformat(timespec="microseconds")


def _content(entry: Entry, seq: int | None = None) -> dict[str, Any]:
    return {
        "seq": entry.seq if seq is None else seq,
        "at": _time(entry.at),
        "run": entry.run_id,
        "actor": entry.actor,
        "action": entry.action,
        "details": dict(entry.details),
        "prev_hash": entry.prev_hash,
    }


def canonical(data: Mapping[str, Any]) -> bytes:
    """Canonical JSON: sorted keys, no whitespace, UTF-8, no NaN."""
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return text.encode("utf-8")


def digest(entry: Entry, seq: int | None = None) -> str:
    """The hash ``entry`` should carry (as if numbered ``seq``, when given)."""
    return hashlib.sha256(canonical(_content(entry, seq))).hexdigest()


def seal(
    *,
    seq: int,
    at: datetime,
    run_id: int | None,
    actor: str,
    action: str,
    details: Mapping[str, Any],
    prev_hash: str,
) -> Entry:
    """A new event after the one whose hash is ``prev_hash``, with its own hash."""
    stored = _as_stored(bounded(details))
    unsealed = Entry(seq, at, run_id, actor, action, stored, prev_hash, "")
    return Entry(seq, at, run_id, actor, action, stored, prev_hash, digest(unsealed))


_PLAIN = frozenset({str, int, bool, type(None)})


def _as_stored(details: dict[str, Any]) -> dict[str, Any]:
    """The details as they read back from their JSON (so the stored form hashes the
    same): a JSON round trip, keys sorted. Flat details of plain values (most events:
    an engine writes one for every check) are already that, keys aside: sorted without
    the round trip, a third of what sealing cost."""
    if all(type(value) in _PLAIN for value in details.values()):
        return dict(sorted(details.items()))
    loaded: dict[str, Any] = json.loads(canonical(details))
    return loaded


def bounded(details: Mapping[str, Any], depth: int = 0) -> dict[str, Any]:
    """Details with text cut to :data:`MAX_TEXT` and nesting to 4 levels."""
    return {str(k)[:100]: _bound(v, depth) for k, v in list(details.items())[:50]}


def _bound(value: Any, depth: int) -> Any:
    if isinstance(value, str):
        return value if len(value) <= MAX_TEXT else value[:MAX_TEXT] + "…"
    if isinstance(value, bool | int) or value is None:
        return value
    if isinstance(value, float):
        return value if value == value and abs(value) != float("inf") else None
    if depth >= 4:
        return str(value)[:MAX_TEXT]
    if isinstance(value, Mapping):
        return bounded(value, depth + 1)
    if isinstance(value, list | tuple):
        return [_bound(v, depth + 1) for v in value[:200]]
    return str(value)[:MAX_TEXT]


def from_json(data: Mapping[str, Any]) -> Entry:
    """An event from an export line; raises ValueError when a field is missing or wrong."""
    try:
        run = data["run"]
        return Entry(
            seq=int(data["seq"]),
            at=datetime.fromisoformat(str(data["at"])),
            run_id=None if run is None else int(run),
            actor=str(data["actor"]),
            action=str(data["action"]),
            details=dict(data["details"]),
            prev_hash=str(data["prev_hash"]),
            hash=str(data["hash"]),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"not an audit event: {exc}") from None


class Tamper(StrEnum):
    CHANGED = "changed"
    DELETED = "deleted"
    INSERTED = "inserted"
    REORDERED = "reordered"
    TRUNCATED = "truncated"


@dataclass(frozen=True)
class Problem:
    kind: Tamper
    seq: int
    """The sequence number the problem is at (of the missing event, for a deletion)."""
    message: str


@dataclass(frozen=True)
class Verification:
    count: int
    head: Entry | None
    """The last event of the intact chain (all of it when ``problem`` is None)."""
    problem: Problem | None = None

    @property
    def ok(self) -> bool:
        return self.problem is None


class Links(Protocol):
    """Events found by their links, for naming what broke the chain (a walk keeps only
    the event before; the database answers these from its unique indexes)."""

    def with_hash(self, hash: str) -> Entry | None:
        """The event whose own hash is ``hash``."""
        ...

    def following(self, prev_hash: str, after: int | None = None) -> Entry | None:
        """The first event (numbered above ``after``, if given) that follows ``prev_hash``."""
        ...

    def next_after(self, seq: int) -> Entry | None:
        """The event numbered next above ``seq``."""
        ...


class Listed:
    """:class:`Links` over events held in memory, in sequence order."""

    def __init__(self, ordered: Sequence[Entry]) -> None:
        self.ordered = ordered
        self.by_hash = {e.hash: e for e in ordered}

    def with_hash(self, hash: str) -> Entry | None:
        return self.by_hash.get(hash)

    def following(self, prev_hash: str, after: int | None = None) -> Entry | None:
        return next(
            (
                e
                for e in self.ordered
                if e.prev_hash == prev_hash and (after is None or e.seq > after)
            ),
            None,
        )

    def next_after(self, seq: int) -> Entry | None:
        return next((e for e in self.ordered if e.seq > seq), None)


def verify(entries: Sequence[Entry], head: str | None = None) -> Verification:
    """Walk ``entries`` in sequence order; the first problem, named. With ``head`` (a hash
    recorded earlier), the chain must still contain that event."""
    ordered = sorted(entries, key=lambda e: e.seq)
    return walk(ordered, Listed(ordered), head)


def walk(ordered: Iterable[Entry], links: Links, head: str | None = None) -> Verification:
    """:func:`verify` over events streamed in sequence order (a page at a time from the
    database), holding only the event before: ``links`` finds the others a diagnosis
    names."""
    expected_prev, expected_seq = GENESIS, 1
    count, last, seen_head = 0, None, head is None or head == GENESIS
    events = iter(ordered)
    for entry in events:
        count += 1
        intact = (
            entry.prev_hash == expected_prev
            and entry.seq == expected_seq
            and digest(entry) == entry.hash
        )
        if not intact:
            problem = _diagnose(entry, last, expected_prev, expected_seq, links)
            return Verification(count + sum(1 for _ in events), last, problem)
        expected_prev, expected_seq = entry.hash, entry.seq + 1
        last, seen_head = entry, seen_head or entry.hash == head
    if not seen_head:
        assert head is not None
        end = f"#{last.seq}" if last else "nothing"
        message = (
            f"the recorded head {head[:16]}… is not in the chain, which ends at {end}: "
            "events after it were deleted, or the chain was rewritten"
        )
        problem = Problem(Tamper.TRUNCATED, last.seq + 1 if last else 1, message)
        return Verification(count, last, problem)
    return Verification(count, last)


def _diagnose(entry: Entry, before: Entry | None, prev: str, seq: int, links: Links) -> Problem:
    """Name what happened at ``entry``, the first event that does not follow ``prev`` as
    number ``seq`` (``before`` is the intact event before it)."""
    if entry.prev_hash == prev:
        if entry.seq != seq:
            return _missing(seq, entry)
        return Problem(
            Tamper.CHANGED,
            entry.seq,
            f"event {entry.describe()} was changed: its content no longer matches its hash",
        )
    followed = links.with_hash(entry.prev_hash)
    if followed is not None and before is not None and followed.seq < before.seq:
        extra = links.next_after(followed.seq)
        assert extra is not None  # ``before`` at least comes after it
        return Problem(
            Tamper.INSERTED,
            extra.seq,
            f"event {extra.describe()} was inserted: the event after it "
            f"({_was(entry)}) follows #{followed.seq}",
        )
    if followed is not None and followed.seq > entry.seq:
        return Problem(
            Tamper.REORDERED,
            entry.seq,
            f"event {entry.describe()} is out of order: it follows "
            f"{followed.describe()}, which comes later",
        )
    successor = links.following(prev, after=entry.seq)
    if successor is not None:
        followed_by = links.following(entry.hash)
        kind = Tamper.REORDERED if followed_by is not None else Tamper.INSERTED
        verb = "is out of order" if kind is Tamper.REORDERED else "was inserted"
        return Problem(
            kind,
            entry.seq,
            f"event {entry.describe()} {verb}: the event that follows "
            f"#{seq - 1 if seq > 1 else 'the start'} is {successor.describe()}",
        )
    original = _original_seq(entry)
    if entry.seq > seq or (original is not None and original > seq):
        return _missing(seq, entry, original)
    if digest(entry) == entry.hash and before is not None:
        return Problem(
            Tamper.CHANGED,
            before.seq,
            f"event {before.describe()} was changed (and re-hashed): the next event follows "
            "a different version of it",
        )
    return Problem(
        Tamper.CHANGED,
        entry.seq,
        f"event {entry.describe()} was changed: neither its content nor its link to the "
        "event before it matches its hash",
    )


def _missing(seq: int, entry: Entry, original: int | None = None) -> Problem:
    last = (original or entry.seq) - 1
    which = f"#{seq}" if last <= seq else f"#{seq} to #{last}"
    return Problem(
        Tamper.DELETED,
        seq,
        f"event {which} is missing (deleted): {_was(entry)} does not follow the event before it",
    )


def _was(entry: Entry) -> str:
    original = _original_seq(entry) if digest(entry) != entry.hash else None
    if original is not None and original != entry.seq:
        return f"{entry.describe()}, originally #{original}"
    return entry.describe()


def _original_seq(entry: Entry) -> int | None:
    """The number ``entry`` was hashed with, when only its number was changed."""
    if digest(entry) == entry.hash:
        return entry.seq
    low = max(1, entry.seq - RENUMBER_SEARCH)
    for candidate in range(low, entry.seq + RENUMBER_SEARCH):
        if digest(entry, candidate) == entry.hash:
            return candidate
    return None
