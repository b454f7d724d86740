"""`make demo`: start the example target, run the example plan against it with the real
CLI, and leave the reports in .preprod/demo/.

    python examples/demo.py [--defect NAME[,NAME...] ...]   (or: make demo DEFECTS=slow,no-hsts)
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from examples.processes import stop_on_sigterm  # noqa: E402
from examples.target.defects import DEFECTS, UnknownDefectError, parse_defects  # noqa: E402
from examples.target.launch import start_target  # noqa: E402

ROOT = HERE.parent
STATE = ROOT / ".preprod"


def parse_defects_args(argv: list[str] | None = None) -> list[str]:
    """The defects asked for on the command line; exits 2 naming an unknown one."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--defect",
        action="append",
        default=[],
        metavar="NAME[,NAME...]",
        help=f"plant defects in the target (repeatable, or a comma list): {', '.join(DEFECTS)}",
    )
    args = parser.parse_args(argv)
    try:
        return list(parse_defects(args.defect))
    except UnknownDefectError as exc:
        parser.error(str(exc))


def main(argv: list[str] | None = None) -> int:
    defects = parse_defects_args(argv)
    stop_on_sigterm()
    reports = STATE / "demo"
    print(f"Starting the example target{' with defects: ' + ', '.join(defects) if defects else ''}")
    with start_target(*defects, state_dir=STATE / "target") as target:
        print(f"  listening on {target.https_url} (CA {target.ca_bundle})\n")
        env = {
            **os.environ,
            "TARGET_HTTPS_URL": target.https_url,
            "TARGET_CA_BUNDLE": str(target.ca_bundle),
            "TARGET_TOKEN": target.token,
            "PRODUCTION_URL": target.production_url,
            "TARGET_SCAN_REPORT": str(target.ca_bundle.parent / "trivy.json"),
        }
        command = [
            sys.executable, "-m", "bot.cli", "check",
            "--config", str(HERE / "preprod.yml"), "--env", "staging",
            "--service", "checkout-api", "--release", "2.14.0",
            "--json", str(reports / "run.json"),
            "--junit", str(reports / "junit.xml"),
            "--html", str(reports / "report.html"),
        ]  # fmt: skip
        code = subprocess.call(command, cwd=ROOT, env=env)
    return outcome(code, defects, reports / "report.html")


def outcome(code: int, defects: list[str], report: Path) -> int:
    """Say what the run meant. With defects planted, exit 1 (blocking failures) is the demo
    working as intended, so the demo itself succeeds; anything else is passed on."""
    print(f"\npreprod check exited {code}. Open {report} for the full report.")
    if not defects:
        print("Try failures: make demo DEFECTS=slow,no-hsts,tls10")
        return code
    if code == 1:
        print(f"That is the gate catching the planted defects ({', '.join(defects)}), as intended.")
        return 0
    return code


if __name__ == "__main__":
    sys.exit(main())
