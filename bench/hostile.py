"""Does memory stay flat whatever the target (or the config) throws at preprod?

Runs the real ``preprod check`` CLI (a one-check ``http`` plan in a temporary config)
against a loopback target (127.0.0.1 only) that answers 1 KB, 50 MB and an endless
chunked body, and ``preprod config validate`` on a "billion laughs" YAML file (nested
anchors, generated here). Prints each process's peak memory (its RSS high-water mark,
from ``wait4``) side by side, and whether each stays within 50 MB of the 1 KB case.

    .venv/bin/python bench/hostile.py [--laughs 9] [--timeout 120] [--cap-gb 4]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.hostile_server import hostile_server  # noqa: E402

MARGIN_MB = 50.0

CONFIG = """\
channel: C0BENCH
roles:
  sre: {{label: SRE, members: [U0BENCH]}}
environments:
  bench: {{base_url: "{url}", plan: bench}}
plans:
  bench:
    checks:
      - id: body
        type: http
        requests: [{{path: "{path}"}}]
"""


@dataclass
class Measured:
    label: str
    peak_mb: float
    seconds: float
    outcome: str
    last_line: str = ""


def preprod_command() -> list[str]:
    script = Path(sys.executable).parent / "preprod"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "import sys; from bot.cli.main import main; sys.exit(main())"]


def billion_laughs(levels: int) -> str:
    """A valid config plus ``levels`` of anchors, each a list of nine of the one before:
    9**levels strings once every alias is expanded (387 million for 9 levels)."""
    lines = ['x-lol0: &lol0 "lol"']
    for level in range(1, levels + 1):
        refs = ", ".join([f"*lol{level - 1}"] * 9)
        lines.append(f"x-lol{level}: &lol{level} [{refs}]")
    config = CONFIG.format(url="http://127.0.0.1:9", path="/")
    return "\n".join(lines) + "\n" + config


def measure(label: str, cmd: list[str], cwd: Path, timeout: float, cap_gb: float) -> Measured:
    """Run ``cmd`` and take its own peak RSS from ``wait4`` (this child's figure, not
    the high-water mark of every child so far). Address space is capped so that an
    unbounded case fails fast instead of taking the machine's memory."""
    cap = int(cap_gb * 1024**3)

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))

    log = cwd / f"{label.split()[0]}.log"
    started = time.monotonic()
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            cmd, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, preexec_fn=limit
        )
        timer = threading.Timer(timeout, lambda: os.kill(proc.pid, signal.SIGKILL))
        timer.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            timer.cancel()
    proc.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.monotonic() - started
    text = log.read_text(errors="replace").strip().splitlines()
    if proc.returncode == -signal.SIGKILL:
        outcome = f"killed after {timeout:g} s"
    else:
        memory = any("MemoryError" in line for line in text)
        outcome = f"exit {proc.returncode}"
        if memory:
            outcome += f" (MemoryError at the {cap_gb:g} GB cap)"
    last = text[-1].strip() if text else ""
    return Measured(label, usage.ru_maxrss / 1024, seconds, outcome, last)


def check_outcome(report: Path) -> str:
    try:
        (result,) = json.loads(report.read_text())["results"]
    except (OSError, ValueError, KeyError):
        return "no report"
    return f"{result['status']}: {result['summary']}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--laughs", type=int, default=9, help="levels of nested anchors")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds per process")
    parser.add_argument("--cap-gb", type=float, default=4.0, help="address-space cap per process")
    args = parser.parse_args()

    rows: list[Measured] = []
    with hostile_server() as url, tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for label, path in (
            ("check 1 KB body", "/small"),
            ("check 50 MB body", "/big?mb=50"),
            ("check endless chunked body", "/endless"),
        ):
            case = work / label.split()[1]
            case.mkdir()
            config = case / "preprod.yml"
            config.write_text(CONFIG.format(url=url, path=path))
            report = case / "report.json"
            cmd = [
                *preprod_command(),
                "check",
                "--config",
                str(config),
                "--env",
                "bench",
                "--json",
                str(report),
                "--database",
                f"sqlite:///{case / 'bench.sqlite'}",
            ]
            row = measure(label, cmd, case, args.timeout, args.cap_gb)
            row.outcome += f"; {check_outcome(report)}"
            rows.append(row)
        laughs = work / "laughs.yml"
        laughs.write_text(billion_laughs(args.laughs))
        cmd = [*preprod_command(), "config", "validate", "--config", str(laughs)]
        label = f"config validate, billion laughs (9^{args.laughs})"
        row = measure(label, cmd, work, args.timeout, args.cap_gb)
        row.outcome += f"; {row.last_line}"
        rows.append(row)

    baseline = rows[0].peak_mb
    width = max(len(r.label) for r in rows)
    print(f"{'case':<{width}}  {'peak RSS':>10}  {'vs 1 KB':>9}  {'time':>7}  within 50 MB")
    for r in rows:
        delta = r.peak_mb - baseline
        verdict = "yes" if delta <= MARGIN_MB else "NO"
        print(
            f"{r.label:<{width}}  {r.peak_mb:7.1f} MB  {delta:+6.1f} MB  {r.seconds:6.1f}s  "
            f"{verdict:<3}  {r.outcome[:110]}"
        )
    flat = all(r.peak_mb - baseline <= MARGIN_MB for r in rows)
    print(f"all within {MARGIN_MB:g} MB of the 1 KB case: {'yes' if flat else 'NO'}")


if __name__ == "__main__":
    main()
