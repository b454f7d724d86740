"""Stages' decisions, pure: why a check was skipped, where a re-run goes on from, and how
long the stages still to come should take from past runs."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from checks.base import Status
from checks.spec import CheckSpec, Stage


def skip_reason(stage: str, failed: Sequence[str]) -> str:
    """``stage smoke failed: health, ready``: why a later check was not run."""
    return f"{_skipped_by(stage)}{', '.join(failed)}"


def _skipped_by(stage: str) -> str:
    return f"stage {stage} failed: "


def blocks(status: str | None) -> bool:
    """A stored status that blocks a release when its check is critical."""
    return status in {s.value for s in Status if s.is_problem}


Latest = Mapping[str, tuple[str, str]]
"""Each check's latest attempt: ``(status, summary)``."""


def failed_stage(stages: Sequence[Stage], latest: Latest) -> int | None:
    """The index of the stage that ended a run (a later check was skipped because it
    failed, as :func:`skip_reason` says), or None when no stage ended it."""
    for index, stage in enumerate(stages):
        if _ended_by(stage, stages[index + 1 :], latest):
            return index
    return None


def _ended_by(stage: Stage, later: Sequence[Stage], latest: Latest) -> list[str]:
    """The later checks ``stage`` had skipped (not those ``--only`` left out)."""
    prefix = _skipped_by(stage.name)
    return [
        spec.id
        for s in later
        for spec in s.checks
        if (found := latest.get(spec.id)) is not None
        and found[0] == Status.SKIPPED.value
        and found[1].startswith(prefix)
    ]


def continue_from(stages: Sequence[Stage], latest: Latest) -> tuple[str, list[str]] | None:
    """What a re-run of a run a stage ended executes, as a release engineer expects: that
    stage's checks that failed, errored or were interrupted (the passed ones are kept),
    then the later checks the stage had skipped, in plan order; None when no stage ended
    the run (then a re-run runs every check)."""
    index = failed_stage(stages, latest)
    if index is None:
        return None
    stage = stages[index]
    again = [spec.id for spec in stage.checks if blocks(latest.get(spec.id, ("", ""))[0])]
    return stage.name, [*again, *_ended_by(stage, stages[index + 1 :], latest)]


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


def batches(specs: Sequence[CheckSpec]) -> Iterable[list[CheckSpec]]:
    """Consecutive light checks run together; an exclusive check runs alone, in plan order."""
    batch: list[CheckSpec] = []
    for spec in specs:
        if spec.is_exclusive():
            if batch:
                yield batch
                batch = []
            yield [spec]
        else:
            batch.append(spec)
    if batch:
        yield batch
