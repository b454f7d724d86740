"""Stages' decisions, pure: why a check was skipped, where a re-run goes on from, and how
long the stages still to come should take from past runs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from checks.base import Status
from checks.spec import CheckSpec, Stage


def skip_reason(stage: str, failed: Sequence[str]) -> str:
    """``stage smoke failed: health, ready``: why a later check was not run."""
    return f"stage {stage} failed: {', '.join(failed)}"


def blocks(status: str | None) -> bool:
    """A stored status that blocks a release when its check is critical."""
    return status in {s.value for s in Status if s.is_problem}


def failed_stage(stages: Sequence[Stage], statuses: Mapping[str, str]) -> int | None:
    """The index of the stage that ended a run (a critical check of it blocks and a later
    check was skipped), or None when no stage ended it (every stage ran)."""
    for index, stage in enumerate(stages):
        if any(spec.critical and blocks(statuses.get(spec.id)) for spec in stage.checks):
            later = [spec.id for s in stages[index + 1 :] for spec in s.checks]
            if any(statuses.get(i) == Status.SKIPPED.value for i in later):
                return index
            return None
    return None


def expected_seconds(
    stage_batches: Sequence[Sequence[Sequence[CheckSpec]]], past: Mapping[str, float]
) -> float | None:
    """The stages to come: each batch takes as long as its slowest check's median in past
    runs (checks of a batch run side by side); None when no check has any history."""
    if not any(spec.id in past for stage in stage_batches for b in stage for spec in b):
        return None
    return sum(
        max((past.get(spec.id, 0.0) for spec in batch), default=0.0)
        for stage in stage_batches
        for batch in stage
    )
