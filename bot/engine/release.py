"""What a run's version means to its plan: which checks use ``{version}``, so that a run
without a version is refused where the plan needs one. Pure."""

from __future__ import annotations

from checks.placeholders import uses
from checks.spec import PlanSpec

UNVERSIONED = "unversioned"
"""The version recorded for a run started without one."""


def checks_using_version(plan: PlanSpec, only: list[str] | None = None) -> list[str]:
    """The ids of the plan's (selected) checks whose options use ``{version}``."""
    return [spec.id for spec in plan.select(only) if uses(spec.raw_options, "version")]


def missing_version_problem(
    plan_name: str, plan: PlanSpec, only: list[str] | None = None
) -> str | None:
    """Why a run of this plan needs a version, or None when it does not."""
    if users := checks_using_version(plan, only):
        return f"--release is required: plan {plan_name!r} uses {{version}} in {', '.join(users)}"
    return None


def no_version_note() -> str:
    return f"no --release given: the run is recorded as version {UNVERSIONED!r}"
