"""The example target for tests: the same launcher the demo uses, and what it served."""

import re
from pathlib import Path

import httpx

from examples.target.launch import RunningTarget, TargetStartError, start_target

REPO_ROOT = Path(__file__).resolve().parents[2]


def served(target: RunningTarget, path: str) -> int:
    """How many requests the target answered on ``path`` (its own Prometheus counters)."""
    body = httpx.get(f"{target.http_url}/metrics").text
    found = re.findall(rf'http_requests_total{{path="{re.escape(path)}",status="\d+"}} (\d+)', body)
    return sum(int(n) for n in found)


__all__ = ["REPO_ROOT", "RunningTarget", "TargetStartError", "served", "start_target"]
