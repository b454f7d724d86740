"""Action and modal ids, and the values buttons carry: the contract between the
rendered buttons and the handlers that receive the clicks."""

from __future__ import annotations

from dataclasses import dataclass

APPROVE = "signoff_approve"
REJECT = "signoff_reject"
WAIVE = "check_waive"
ATTEST = "attestation_tick"
OPEN_RUN = "open_run"

REJECT_MODAL = "reject_reason"
WAIVE_MODAL = "waive_justification"
ATTEST_MODAL = "attestation_note"

REASON_BLOCK, REASON_INPUT = "reason", "reason_input"
"""The text input of every modal: a reject reason, a waiver justification, a note."""


@dataclass(frozen=True)
class Target:
    """What a button acts on: a run, at a generation of its evidence, and a role, check
    or attestation item. The generation makes a button from before a re-run stale."""

    run_id: int
    generation: int
    subject: str

    def encode(self) -> str:
        return f"{self.run_id}:{self.generation}:{self.subject}"

    @classmethod
    def decode(cls, value: str) -> Target:
        run_id, generation, subject = value.split(":", 2)
        return cls(int(run_id), int(generation), subject)
