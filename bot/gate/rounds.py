"""Which of a run's decisions is which. A NO-GO reopened by a re-run (``gate.reopen``)
is decided a second time; whatever is sent once per decision (the Slack announcement,
the requester's DM, the answer a pipeline is given) needs a key per decision, and the
keys of a run's first decision stay those used before reopens existed.

``decision_round`` is pure; ``read_round`` reads the two audit events it needs."""

from __future__ import annotations

from dataclasses import dataclass

from bot.audit.chain import Action, Entry
from bot.store.audit_log import AuditLog


def decision_round(decision: int | None, reopen: int | None) -> int | None:
    """The part of a key that tells this decision from the run's earlier ones: None for
    the run's first decision (no reopen before it), else the decision's own audit seq.

    ``decision`` and ``reopen`` are the seqs of the run's newest ``gate.decision`` and
    ``gate.reopen`` events. A decision older than the newest reopen is the one that
    reopen set aside, read late (a listener behind the re-run): with one reopen that is
    the first decision, so it keeps the first decision's keys and is not sent twice."""
    if decision is None or reopen is None or reopen > decision:
        return None
    return decision


@dataclass(frozen=True)
class Round:
    """A run's newest decision event (``head``) and its round (:func:`decision_round`)."""

    head: Entry | None
    round: int | None

    def key(self, base: str) -> str:
        """``base`` for a run's first decision, ``base:<seq>`` for one after a reopen."""
        return base if self.round is None else f"{base}:{self.round}"


async def read_round(audit: AuditLog, run_id: int) -> Round:
    """The run's newest decision and its round: two short reads by index."""
    head = await audit.last_of(run_id, Action.DECISION)
    reopen = await audit.last_of(run_id, Action.REOPEN)
    seq = decision_round(head.seq if head else None, reopen.seq if reopen else None)
    return Round(head, seq)
