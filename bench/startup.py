"""How fast does the command line start? (issue 26, point 2)

Times, as fresh processes in one run, alternating so that a busy moment hurts each the
same: ``python -c pass`` (the interpreter alone), ``locust --help`` (a well-known Python
CLI), ``preprod --help``, ``preprod --version`` and ``preprod config validate`` on the
example plan. Prints each one's wall-clock median (and its user CPU median, steadier on
a shared machine) over ``--runs`` runs, and whether the goals hold: ``preprod --help``
under 0.25 s and faster than ``locust --help``, ``config validate`` under 0.4 s.

    .venv/bin/python bench/startup.py [--runs 5]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent

COMMANDS: dict[str, list[str]] = {
    "python -c pass": [sys.executable, "-c", "pass"],
    "locust --help": [str(BIN / "locust"), "--help"],
    "preprod --help": [str(BIN / "preprod"), "--help"],
    "preprod --version": [str(BIN / "preprod"), "--version"],
    "preprod config validate": [
        str(BIN / "preprod"),
        "config",
        "validate",
        "--config",
        str(ROOT / "examples" / "preprod.yml"),
    ],
}

ENV = {
    **{k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"},
    "COLUMNS": "80",
}
"""A user's install has its bytecode written: with PYTHONDONTWRITEBYTECODE set (as it is in
some shells and CI images) every start would compile the project's modules anew, and the
warm-up run below would warm nothing."""

GOALS = {"preprod --help": 0.25, "preprod config validate": 0.4}


def timed(cmd: list[str]) -> tuple[float, float]:
    """Wall seconds and the child's user CPU seconds of one run; exit 1 if it fails."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_utime
    started = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, cwd=ROOT, env=ENV)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"{' '.join(cmd)} exited {done.returncode}: {done.stderr.decode()[-400:]}")
    return wall, resource.getrusage(resource.RUSAGE_CHILDREN).ru_utime - before


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    for cmd in COMMANDS.values():  # warm the page cache and the .pyc files once
        timed(cmd)
    walls: dict[str, list[float]] = {name: [] for name in COMMANDS}
    cpus: dict[str, list[float]] = {name: [] for name in COMMANDS}
    for _ in range(args.runs):
        for name, cmd in COMMANDS.items():
            wall, cpu = timed(cmd)
            walls[name].append(wall)
            cpus[name].append(cpu)
    print(f"load average {os.getloadavg()[0]:.2f}, {args.runs} runs each, medians")
    print(f"{'command':<26} {'wall':>8} {'user CPU':>9}   runs (wall)")
    median = {name: statistics.median(values) for name, values in walls.items()}
    for name in COMMANDS:
        each = " ".join(f"{w:.3f}" for w in walls[name])
        cpu = statistics.median(cpus[name])
        print(f"{name:<26} {median[name]:>7.3f}s {cpu:>8.3f}s   {each}")
    ok = True
    for name, goal in GOALS.items():
        met = median[name] < goal
        ok &= met
        print(f"goal {name} < {goal} s: {'met' if met else 'NOT MET'} ({median[name]:.3f} s)")
    faster = median["preprod --help"] < median["locust --help"]
    ok &= faster
    ratio = median["preprod --help"] / median["locust --help"]
    print(
        f"goal preprod --help faster than locust --help: {'met' if faster else 'NOT MET'} "
        f"(ratio {ratio:.2f})"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
