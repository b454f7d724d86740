"""bench/pages.py's verdict: each figure against its budget, the database's size, and
``preprod audit verify`` of the whole trail in a subprocess."""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]

BUDGET_MS = 100.0
BUDGETS = {"/insights?days=366": 500.0}
"""Figures held to another budget than :data:`BUDGET_MS` (a whole year: weekly rollups)."""


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def audit_verify(url: str) -> dict[str, Any]:
    """``preprod audit verify`` in a subprocess: wall time, its output, peak RSS (MiB) as
    GNU time reports it for that process alone (this process's own rusage of its children
    would count this large process: a child starts as a copy of it before it execs)."""
    command = [sys.executable, "-m", "bot.cli", "audit", "verify", "--database", url]
    timer = shutil.which("time") or "/usr/bin/time"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    t0 = time.monotonic()
    done = subprocess.run(
        [timer, "-f", "maxrss_kb=%M", *command],
        capture_output=True, text=True, env=env, check=False,
    )  # fmt: skip
    wall = time.monotonic() - t0
    output = (done.stdout + done.stderr).strip().splitlines()
    peak = [line for line in output if line.startswith("maxrss_kb=")]
    return {
        "code": done.returncode,
        "wall_s": wall,
        "output": "\n".join(line for line in output if line not in peak),
        "rss_mib": int(peak[-1].split("=")[1]) / 1024 if peak else float("nan"),
    }


def report(database: str, result: dict[str, Any], verify_trail: bool) -> bool:
    size, count = result["bytes"], result["runs"]
    migrated = (
        f"schema {result['migrated']} in {result['migrated_s']:.1f} s, "
        if result["migrated"]
        else ""
    )
    counted = (
        f"insight rollups counted in {result['counted_s']:.1f} s"
        if result["counted_s"]
        else "insight rollups already counted"
    )
    print(
        f"\n{database}: {count:,} runs and {result['events']:,} audit events seeded in "
        f"{result['seeded_s']:.1f} s, {migrated}{counted}; "
        f"database {size / 2**20:,.0f} MiB, {size / count:,.0f} bytes per run"
    )
    print(f"  {'figure':<26} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}")
    ok = True
    for name, times in result["timings"].items():
        p95, budget = percentile(times, 0.95), BUDGETS.get(name, BUDGET_MS)
        ok &= p95 < budget
        flag = "" if p95 < budget else f"  over {budget:.0f} ms"
        print(f"  {name:<26} {statistics.median(times):8.1f} {p95:8.1f} {max(times):8.1f}{flag}")
    print(flush=True)  # the figures so far: the verify of a long trail takes minutes
    if not verify_trail:
        return ok
    verify = result["verify"] = audit_verify(result["url"])
    rate = result["events"] / verify["wall_s"]
    print(
        f"  preprod audit verify: exit {verify['code']}, {verify['wall_s']:.1f} s "
        f"({rate:,.0f} events/s end to end), peak RSS {verify['rss_mib']:.0f} MiB"
    )
    for line in verify["output"].splitlines():
        print(f"    {line}")
    return ok and verify["code"] == 0
