"""The gate's tables as the audit trail says they should be, pure.

The trail is the record; the sign-off, waiver, tick, decision and outcome tables, the
check results and a run's evidence generation are its projection. Someone with write
access can edit a table without touching the chain (``update signoff set
vote='approve'``), and the chain still verifies. :func:`replay` turns a run's events
into the rows they imply, :func:`diff` compares them with the rows stored and names each
difference: run, table, field, what the trail says and what the table says. A row with
no event and an event with no row are differences too (a check attempt still pending or
running has no event yet).

Rows are compared on what people decided and what the checks found (votes, reasons,
who, outcome, status, blocking), not on their times: a row's ``at`` is taken when it is
built, its event's when it is appended."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cached_property
from typing import Any

from bot.audit.chain import Action, Entry, bounded, canonical

ACTIONS: tuple[str, ...] = (
    Action.RUN_STARTED,
    Action.RUN_RERUN,
    Action.CHECK_FINISHED,
    Action.SIGNOFF,
    Action.REJECT,
    Action.WAIVER,
    Action.ATTESTATION,
    Action.DECISION,
    Action.REOPEN,
    Action.OUTCOME,
)
"""The events a replay reads (the others do not make gate rows)."""

SHOWN = 80
"""Characters of a value quoted in a difference, so one line stays one line."""


class Table(StrEnum):
    RUN = "run"
    CHECK = "checkrecord"
    SIGNOFF = "signoff"
    WAIVER = "waiver"
    TICK = "attestationtick"
    DECISION = "decisionrecord"
    OUTCOME = "productionoutcome"


Key = tuple[Table, int, tuple[Any, ...]]


@dataclass(frozen=True)
class Row:
    """A row reduced to what the trail can vouch for: its table, run, unique key within
    the run, and the fields compared. ``source`` names the event an expected row comes
    from (empty for a stored row)."""

    table: Table
    run_id: int
    key: tuple[Any, ...]
    fields: Mapping[str, Any] = field(default_factory=dict)
    source: str = ""
    unfinished: bool = False
    """A stored check attempt still pending or running: no event speaks of it yet."""

    @cached_property
    def ident(self) -> Key:
        return (self.table, self.run_id, self.key)


@dataclass(frozen=True)
class Difference:
    run_id: int
    table: Table
    subject: str
    """``sign-off security by U123 (generation 1)``, ``decision``..."""
    field: str
    """The field that differs, or ``row`` when a row or its event is missing."""
    trail: str
    stored: str

    def line(self) -> str:
        """``run 7: signoff sign-off security by U1 (generation 1): vote: trail reject,
        table approve``: one line, user text quoted."""
        return (
            f"run {self.run_id}: {self.table.value} {self.subject}: {self.field}: "
            f"trail {self.trail}, table {self.stored}"
        )

    def phrase(self) -> str:
        """The short form a run's page uses."""
        if self.table is Table.DECISION and self.field == "outcome":
            return f"it records {self.trail.upper()} (decision), the table {self.stored.upper()}"
        if self.table is Table.DECISION and self.trail == "no event":
            return "it records no decision, the table " + self.stored
        return f"{self.subject}: {self.field}: trail {self.trail}, table {self.stored}"


def replay(events: Iterable[Entry]) -> list[Row]:
    """The rows ``events`` (in sequence order) imply. A production outcome is replaced by
    a later one (a correction), a check attempt's result by a later one (the row is
    updated in place); a reopened decision (``gate.reopen``) is removed; every other row is
    inserted once, so a second event for the same key is kept apart and reported by
    :func:`diff`."""
    rows: dict[Key, Row] = {}
    repeats: list[Row] = []
    for event in events:
        if event.action == Action.REOPEN and event.run_id is not None:
            # the decision is set aside: the run is undecided until the next one
            rows.pop((Table.DECISION, event.run_id, ()), None)
            continue
        row = _row(event)
        if row is None:
            continue
        replaces = row.table in (Table.OUTCOME, Table.RUN, Table.CHECK)
        if row.ident in rows and not replaces:
            repeats.append(row)
        else:
            rows[row.ident] = row
    return [*rows.values(), *repeats]


def _row(event: Entry) -> Row | None:
    run, d, source = event.run_id, event.details, f"#{event.seq} {event.action}"
    if run is None:
        return None
    if event.action == Action.RUN_STARTED:
        return Row(Table.RUN, run, (), {"generation": 1}, source)
    if event.action == Action.RUN_RERUN:
        return Row(Table.RUN, run, (), {"generation": d.get("generation")}, source)
    if event.action == Action.CHECK_FINISHED:
        fields = {k: d.get(k) for k in ("status", "critical", "blocking", "summary")}
        return Row(Table.CHECK, run, (d.get("check"), d.get("attempt")), fields, source)
    if event.action in (Action.SIGNOFF, Action.REJECT):
        default = "reject" if event.action == Action.REJECT else "approve"
        key = (d.get("generation"), d.get("role"), event.actor)
        fields = {"vote": d.get("vote", default), "reason": d.get("reason", "")}
        return Row(Table.SIGNOFF, run, key, fields, source)
    if event.action == Action.WAIVER:
        fields = {"user": event.actor, "justification": d.get("justification")}
        return Row(Table.WAIVER, run, (d.get("check"), d.get("attempt")), fields, source)
    if event.action == Action.ATTESTATION:
        fields = {"user": event.actor, "note": d.get("note", "")}
        return Row(Table.TICK, run, (d.get("item"),), fields, source)
    if event.action == Action.DECISION:
        fields = {"outcome": d.get("outcome"), "reasons": d.get("reasons", [])}
        return Row(Table.DECISION, run, (), fields, source)
    if event.action == Action.OUTCOME:
        return Row(Table.OUTCOME, run, (), {"result": d.get("result"), "user": event.actor}, source)
    return None


def diff(expected: Sequence[Row], stored: Sequence[Row]) -> list[Difference]:
    """Every way ``stored`` differs from ``expected``, in run, table and key order: a field
    whose value differs, an expected row not stored, a stored row no event speaks of."""
    found: list[tuple[Key, Difference]] = []
    have = {row.ident: row for row in stored}
    wanted: dict[Key, Row] = {}
    for row in expected:
        if row.ident in wanted:
            first = wanted[row.ident].source
            found.append((row.ident, _missing(row, f"{row.source} repeats {first}", "one row")))
            continue
        wanted[row.ident] = row
        table_row = have.get(row.ident)
        if table_row is None:
            found.append((row.ident, _missing(row, f"{row.source} ({_fields(row)})", "no row")))
            continue
        for name, value in row.fields.items():
            actual = table_row.fields.get(name)
            if not same(value, actual):
                difference = Difference(
                    row.run_id, row.table, subject(row), name, shown(value), shown(actual)
                )
                found.append((row.ident, difference))
    for ident, row in have.items():
        if ident not in wanted and not row.unfinished:
            found.append((ident, _missing(row, "no event", f"has the row ({_fields(row)})")))
    found.sort(key=lambda pair: (pair[0][1], list(Table).index(pair[0][0]), repr(pair[0][2])))
    return [difference for _, difference in found]


def _fields(row: Row) -> str:
    return ", ".join(f"{name} {shown(value)}" for name, value in row.fields.items())


def _missing(row: Row, trail: str, stored: str) -> Difference:
    return Difference(row.run_id, row.table, subject(row), "row", trail, stored)


def same(trail: Any, stored: Any) -> bool:
    """Whether a stored value is what the trail recorded: the stored one is bounded and
    round-tripped through JSON as sealing did (text cut at 2,000 characters)."""
    if stored == trail and type(stored) is type(trail):
        return True
    return bool(json.loads(canonical(bounded({"v": stored})))["v"] == trail)


def subject(row: Row) -> str:
    """What a row is about, in words (names quoted when they are not plain)."""
    k = row.key
    if row.table is Table.SIGNOFF:
        return f"sign-off {shown(k[1])} by {shown(k[2])} (generation {shown(k[0])})"
    if row.table is Table.CHECK:
        return f"check {shown(k[0])} (attempt {shown(k[1])})"
    if row.table is Table.WAIVER:
        return f"waiver of {shown(k[0])} (attempt {shown(k[1])})"
    if row.table is Table.TICK:
        return f"tick of {shown(k[0])}"
    return {Table.DECISION: "decision", Table.OUTCOME: "production outcome"}.get(
        row.table, f"#{row.run_id}"
    )


_PLAIN = re.compile(r"[\w.:@/+-]{1,64}", re.ASCII)


def shown(value: Any) -> str:
    """A value on one line: a plain word as is, text quoted as JSON (newlines and control
    characters escaped) and cut, a list joined by ``; ``."""
    if value is None:
        return "none"
    if isinstance(value, bool | int):
        return str(value)
    if isinstance(value, list | tuple):
        value = "; ".join(str(v) for v in value)
    text = str(value)
    if _PLAIN.fullmatch(text):
        return text
    quoted = json.dumps(text[:SHOWN], ensure_ascii=True)
    return quoted if len(text) <= SHOWN else quoted[:-1] + '…"'


def headline(differences: Sequence[Difference]) -> str:
    """``the audit trail disagrees: it records NO-GO (decision); ...`` ("" when none)."""
    if not differences:
        return ""
    decision = [d for d in differences if d.table is Table.DECISION]
    ordered = [*decision, *(d for d in differences if d.table is not Table.DECISION)]
    return "the audit trail disagrees: " + "; ".join(d.phrase() for d in ordered)
