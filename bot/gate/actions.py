"""The release gate: sign-offs, waivers and attestations on a run, and the decision they
add up to.

Every action is authorised here (not only in the handlers), stored, decided, and then
told to listeners as gate events; the Slack adapter shows them. Nothing here knows how."""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import TypeVar

from bot.audit.chain import Action
from bot.config.schema import Config
from bot.gate.events import GateEvent, GateListener, PanelChanged, RunDecided
from bot.gate.looked import LookedAt
from bot.gate.policy import (
    AttestationFact,
    Decision,
    Outcome,
    Vote,
    may_attest,
    may_sign,
    may_waive,
)
from bot.gate.reading import Loaded, RunReader
from bot.gate.recording import (
    STALE,
    Changed,
    SignPlan,
    SupersedePlan,
    TickPlan,
    WaivePlan,
    already,
    decision_plan,
)
from bot.gate.refusals import Refused, TooSlow
from bot.gate.roles import Directory
from bot.gate.view import (
    FailureView,
    Target,
)
from bot.input_limits import MIN_REASON, text_problem
from bot.store.audit import Note
from bot.store.gate import ActionPlan, GateStore
from bot.store.models import (
    DecisionRecord,
    ProductionOutcome,
    Run,
    utcnow,
)
from bot.store.runs import RunStore
from checks.spec import AttestationSpec

log = logging.getLogger(__name__)
T = TypeVar("T")
REDECIDE = 5
"""Times a decision is computed again when actions keep landing while it is recorded."""


async def _authorised(check: Awaitable[T], within: float | None) -> T:
    """``check`` (an authorisation, which may ask the directory) within ``within`` seconds.
    Only the authorisation is timed, never the write after it: a write that is cut off
    could still land after the person was told it did not."""
    if within is None:
        return await check
    try:
        async with asyncio.timeout(within):
            return await check
    except TimeoutError:
        raise TooSlow(f"Checking took longer than {within:g} s; try again in a moment.") from None


class Gate:
    def __init__(
        self,
        config: Config,
        store: RunStore,
        directory: Directory,
        *,
        report_url: Callable[[int], str | None] = lambda run_id: None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.config = config
        self.store = store
        self.gates = GateStore(store)
        self.directory = directory
        self.report_url = report_url
        self.clock = clock
        self.reader = RunReader(config, store, directory, report_url, clock)
        self.listeners: list[GateListener] = []
        self.locks: defaultdict[int, asyncio.Lock] = defaultdict(asyncio.Lock)
        self.looked = LookedAt()
        """Undecided runs this process looked at, as they stood then (bot/gate/sweeps.py)."""

    def add_listener(self, listener: GateListener, *, first: bool = False) -> None:
        """``first``: before the others (a listener that only wakes waiters and must
        not wait behind Slack's rate limit)."""
        if first:
            self.listeners.insert(0, listener)
        else:
            self.listeners.append(listener)

    async def load(self, run_id: int) -> Loaded:
        return await self.reader.load(run_id)

    def deadline(self, run: Run) -> datetime:
        return self.reader.deadline(run)

    def deadline_passed(self) -> datetime:
        """Runs created before this are past the sign-off deadline."""
        return self.clock() - timedelta(seconds=self.config.policy.signoff_deadline)

    # -- acting ------------------------------------------------------------------------

    async def check_sign(self, user: str, target: Target) -> Loaded:
        """Raise Refused unless ``user`` may sign for the role ``target`` names now (a
        quick answer; the rule is decided again when the signature is stored)."""
        loaded = await self._open_run(target)
        role = target.subject
        if role not in self.config.required_roles:
            raise Refused(f"{role} is not a role this release needs.")
        if not loaded.facts.automated_done:
            raise Refused("The checks are still running; sign once they are done.")
        reason = may_sign(
            user,
            role,
            members=await self.directory.members(role),
            requester=loaded.run.requester,
            requester_may_sign=self.config.policy.requester_may_sign,
            one_role_per_person=self.config.policy.one_role_per_person,
            signoffs=loaded.facts.signoffs,
            role_label=self.directory.label(role),
        )
        if reason:
            raise Refused(reason)
        return loaded

    async def sign(self, user: str, target: Target, vote: Vote, reason: str = "") -> Decision:
        await self.record_sign(user, target, vote, reason)
        return await self.refresh(target.run_id)

    async def record_sign(
        self,
        user: str,
        target: Target,
        vote: Vote,
        reason: str = "",
        *,
        within: float | None = None,
    ) -> bool:
        """Authorise (within ``within`` seconds, else :class:`TooSlow`) and store a
        signature, without deciding yet; False for a repeat of one already stored. The
        rules that depend on stored rows are decided again under the run's lock."""

        async def members() -> frozenset[str]:
            await self.check_sign(user, target)
            return frozenset(await self.directory.members(target.subject))

        found = await _authorised(members(), within)
        _bounded("reason", reason)
        if vote is Vote.REJECT and len(reason.strip()) < MIN_REASON:
            raise Refused(f"A rejection needs a reason of at least {MIN_REASON} characters.")
        plan = SignPlan(
            user, target.subject, vote, reason.strip(), target.generation, found,
            self.config.policy, self.directory.label(target.subject),
        )  # fmt: skip
        return await self._act(target.run_id, plan)

    async def check_waive(self, user: str, target: Target) -> tuple[Loaded, FailureView]:
        loaded = await self._open_run(target)
        fact = next((c for c in loaded.facts.checks if c.check_id == target.subject), None)
        failure = next((f for f in loaded.gate.failures if f.check_id == target.subject), None)
        if fact is None:
            raise Refused(f"Run #{target.run_id} has no check {target.subject}.")
        if reason := may_waive(
            user,
            fact,
            waivers=await self.directory.waivers(),
            requester=loaded.run.requester,
            requester_may_waive=self.config.policy.requester_may_waive,
        ):
            raise Refused(reason)
        assert failure is not None
        return loaded, failure

    async def waive(self, user: str, target: Target, justification: str) -> Decision:
        await self.record_waiver(user, target, justification)
        return await self.refresh(target.run_id)

    async def record_waiver(
        self, user: str, target: Target, justification: str, *, within: float | None = None
    ) -> bool:
        """Authorise and store a waiver of the check's latest attempt, without deciding."""

        async def waivers() -> frozenset[str]:
            await self.check_waive(user, target)
            return frozenset(await self.directory.waivers())

        found = await _authorised(waivers(), within)
        _bounded("justification", justification)
        if len(justification.strip()) < MIN_REASON:
            raise Refused(f"A waiver needs a justification of at least {MIN_REASON} characters.")
        plan = WaivePlan(
            user, target.subject, justification.strip(), target.generation, found,
            self.config.policy,
        )  # fmt: skip
        return await self._act(target.run_id, plan)

    async def check_attest(self, user: str, target: Target) -> tuple[Loaded, str]:
        loaded = await self._open_run(target)
        item = next((a for a in loaded.gate.attestations if a.item_id == target.subject), None)
        if item is None:
            raise Refused(f"Run #{target.run_id} has no attestation {target.subject}.")
        if item.ticked_by is not None:
            raise Refused(f"{item.text} was already ticked; the panel says by whom.")
        fact = AttestationFact(item.item_id, item.role, item.blocking, item.ticked_by)
        if reason := may_attest(
            user,
            fact,
            members=await self.directory.members(item.role),
            requester=loaded.run.requester,
            requester_may_attest=self.config.policy.requester_may_attest,
            role_label=item.role_label,
        ):
            raise Refused(reason)
        return loaded, item.text

    async def attest(self, user: str, target: Target, note: str = "") -> Decision:
        await self.record_tick(user, target, note)
        return await self.refresh(target.run_id)

    async def record_tick(
        self, user: str, target: Target, note: str = "", *, within: float | None = None
    ) -> bool:
        """Authorise and store an attestation tick, without deciding."""

        async def members() -> tuple[AttestationSpec, frozenset[str]]:
            loaded, _ = await self.check_attest(user, target)
            plan = self.config.plans[loaded.run.plan]
            item = next(i for i in plan.attestations if i.id == target.subject)
            return item, frozenset(await self.directory.members(item.role))

        item, found = await _authorised(members(), within)
        _bounded("note", note)
        plan = TickPlan(
            user, item, note.strip(), target.generation, found, self.config.policy,
            self.directory.label(item.role),
        )  # fmt: skip
        return await self._act(target.run_id, plan)

    async def _act(self, run_id: int, plan: ActionPlan) -> bool:
        """Store what ``plan`` decides on the run's fresh rows, under the run's lock."""
        try:
            return await self.gates.act(run_id, plan)
        except LookupError:
            raise Refused(f"There is no run #{run_id}.") from None

    async def record_outcome(self, run_id: int, user: str, result: str) -> None:
        recorded = await self.gates.decision(run_id)
        if recorded is None or recorded.outcome != Outcome.GO.value:
            raise Refused(f"Run #{run_id} was not a GO, so nothing of it reached production.")
        await self.gates.record_outcome(ProductionOutcome(run_id=run_id, result=result, user=user))

    async def _open_run(self, target: Target) -> Loaded:
        loaded = await self.load(target.run_id)
        if loaded.gate.decision.outcome.final:
            raise Refused(already(loaded.gate.decision.outcome))
        if target.generation != loaded.run.generation:
            raise Refused(STALE)
        return loaded

    # -- deciding and telling --------------------------------------------------------

    async def refresh(self, run_id: int) -> Decision:
        """Decide, record a final decision once, tell listeners: the decision first (once,
        by whoever recorded it), then the panel as it now stands. The decision is recorded
        under the run's lock only if the rows it came from are still as read (else it is
        decided again), so an action stored meanwhile on another replica counts."""
        async with self.locks[run_id]:
            loaded, recorded = await self._record(run_id)
            if recorded:
                loaded = await self.load(run_id)
            self.looked.remember(loaded, self.deadline_passed())
            await self._tell(loaded, recorded)
            return loaded.gate.decision

    async def record(self, run_id: int) -> tuple[Decision, bool]:
        """:meth:`refresh` without the telling, for a sweep deciding many runs: the
        decision, and whether this call recorded it (:meth:`tell` follows later)."""
        async with self.locks[run_id]:
            loaded, recorded = await self._record(run_id)
            if not recorded:  # a recorded run is no longer looked at
                self.looked.remember(loaded, self.deadline_passed())
            return loaded.gate.decision, recorded

    async def tell(self, run_id: int, recorded: bool) -> None:
        """Tell listeners what :meth:`record` did: the decision if it ``recorded`` it,
        then the panel as it now stands."""
        async with self.locks[run_id]:
            await self._tell(await self.load(run_id), recorded)

    async def _record(self, run_id: int) -> tuple[Loaded, bool]:
        """Under the run's lock: record the run's final decision unless one is; the run
        as read, and whether this call recorded it (the rows read are then stale)."""
        for _ in range(REDECIDE):
            loaded = await self.load(run_id)
            if not loaded.gate.decision.outcome.final or loaded.recorded is not None:
                return loaded, False
            try:
                return loaded, await self._act(run_id, decision_plan(loaded))
            except Changed:
                continue
        return loaded, False

    async def _tell(self, loaded: Loaded, recorded: bool) -> None:
        if recorded and loaded.gate.decision.outcome is not Outcome.CANCELLED:
            await self.emit(RunDecided(loaded.gate))
        await self.emit(PanelChanged(loaded.gate))

    async def supersede(self, run_id: int, reason: str, actor: str) -> bool:
        """Record SUPERSEDED as the final decision of an undecided run (a newer request
        for its service and environment), once, with its audit event, and tell listeners
        like any decision. False when the run was decided already."""
        async with self.locks[run_id]:
            loaded = await self.load(run_id)
            if loaded.recorded is not None:
                return False
            record = DecisionRecord(
                run_id=run_id, outcome=Outcome.SUPERSEDED.value, reasons=[reason]
            )
            details = {"outcome": record.outcome, "reasons": record.reasons}
            note = Note(Action.DECISION, actor, run_id, details)
            if not await self._act(run_id, SupersedePlan(record, note)):
                return False
            await self._tell(await self.load(run_id), recorded=True)
            return True

    async def emit(self, event: GateEvent) -> None:
        for listener in self.listeners:
            try:
                await listener(event)
            except Exception:
                log.exception("a gate listener failed on %s", type(event).__name__)


def _bounded(what: str, text: str) -> None:
    """Refuse free text past the bound in bot/input_limits.py, whatever sent it: a modal
    carries ``max_length``, but a crafted submission need not respect it."""
    if problem := text_problem(what, text):
        raise Refused(problem)
