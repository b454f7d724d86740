"""Action and modal ids, and the values buttons carry: the contract between the
rendered buttons and the handlers that receive the clicks."""

from __future__ import annotations

from bot.gate.view import Target as Target  # the value every gate button carries

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
