"""How long do the demos' checks take? Runs `make demo` (examples/demo.py) healthy, with
``slow,no-hsts,tls10`` and with ``contention`` (the Slack demo's defect: the same plan
the bot runs), reads each run's duration from its JSON report, and writes the figures
the README and the Slack demo's banner quote to bench/demo_timings.txt ("about N s",
N rounded to 5 s), with the checks that failed.

    .venv/bin/python bench/demo_timings.py [--rounds 1]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REPORT = ROOT / ".preprod" / "demo" / "run.json"
CASES = {
    "make demo": [],
    "make demo DEFECTS=slow,no-hsts,tls10": ["--defect", "slow,no-hsts,tls10"],
    "make demo-slack (its defect, contention)": ["--defect", "contention"],
}


def about(seconds: float) -> int:
    """The figure a person reads: to the nearest 5 s (at least 5)."""
    return max(5, int(5 * round(seconds / 5)))


def one(args: list[str]) -> tuple[float, float, list[str]]:
    """(checks' duration, whole command, checks that failed) of one demo run."""
    started = time.monotonic()
    subprocess.run(
        [sys.executable, "examples/demo.py", *args], cwd=ROOT, capture_output=True, check=False
    )
    wall = time.monotonic() - started
    report = json.loads(REPORT.read_text())
    failed = [r["check_id"] for r in report["results"] if r["status"] == "failed"]
    return float(report["duration_s"]), wall, failed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()
    lines = []
    for name, demo_args in CASES.items():
        runs = [one(demo_args) for _ in range(args.rounds)]
        checks = statistics.median(r[0] for r in runs)
        wall = statistics.median(r[1] for r in runs)
        line = (
            f"{name}: the checks take about {about(checks)} s "
            f"(measured {checks:.1f} s, the whole command {wall:.1f} s, "
            f"{args.rounds} round{'s' if args.rounds != 1 else ''}); "
            f"failed: {', '.join(runs[-1][2]) or 'none'}"
        )
        print(line, flush=True)
        lines.append(line)
    (ROOT / "bench" / "demo_timings.txt").write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
