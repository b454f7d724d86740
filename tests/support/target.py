"""The example target for tests: the same launcher the demo uses."""

from pathlib import Path

from examples.target.launch import RunningTarget, TargetStartError, start_target

REPO_ROOT = Path(__file__).resolve().parents[2]

__all__ = ["REPO_ROOT", "RunningTarget", "TargetStartError", "start_target"]
