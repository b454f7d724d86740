"""The baseline a check compares itself with (``compare_to``): the same check of the last
GO run of the same service and environment, or of the newest run of a named version. The
engine hands a :class:`StoreBaselines` to each check through its CheckContext."""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import Session, col, select

from bot.store.models import CheckDistribution, DecisionRecord, Run
from bot.store.runs import RunStore
from checks.regression import LAST_GO, Baseline, Distribution

GO = "go"
"""The gate's DecisionRecord outcome for a release let through."""


def find_baseline(
    session: Session, service: str, environment: str, run_id: int, check_id: str, compare_to: str
) -> Baseline | str:
    """The newest earlier run (GO, or of the version) that kept this check's distribution
    (its latest attempt); else the sentence that says there is none."""
    query = (
        select(Run, CheckDistribution)
        .join(CheckDistribution, col(CheckDistribution.run_id) == col(Run.id))
        .where(
            col(Run.service) == service,
            col(Run.environment) == environment,
            col(Run.id) != run_id,
            col(CheckDistribution.check_id) == check_id,
        )
        .order_by(col(Run.id).desc(), col(CheckDistribution.attempt).desc())
        .limit(1)
    )
    if compare_to == LAST_GO:
        query = query.join(DecisionRecord, col(DecisionRecord.run_id) == col(Run.id)).where(
            col(DecisionRecord.outcome) == GO, col(Run.id) < run_id
        )
        missing = f"no GO run of {service} on {environment} to compare with"
    else:
        query = query.where(col(Run.version) == compare_to)
        missing = f"no run of {service} {compare_to} on {environment} to compare with"
    row = session.exec(query).first()
    if row is None:
        return missing
    run, kept = row
    assert run.id is not None
    return Baseline(run.id, run.version, Distribution.from_json(kept.data))


@dataclass(frozen=True)
class StoreBaselines:
    """A :class:`checks.regression.BaselineSource` reading the store for one run."""

    store: RunStore
    service: str
    environment: str
    run_id: int

    async def __call__(self, check_id: str, compare_to: str) -> Baseline | str:
        return await self.store.call(
            lambda session: find_baseline(
                session, self.service, self.environment, self.run_id, check_id, compare_to
            )
        )
