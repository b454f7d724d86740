"""`make demo`: start the example target, run the example plan against it with the real
CLI, and leave the reports in .preprod/demo/.

    python examples/demo.py [--defect NAME[,NAME...] ...]   (or: make demo DEFECTS=slow,no-hsts)

With ``regress=N`` (a release N% slower) the demo first checks the previous release with
the ``latency`` plan on a healthy target and signs it off (examples/regression_demo.py), so
that the slower release's ``latency`` check has a GO to compare with.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from examples import regression_demo  # noqa: E402
from examples.processes import stop_on_sigterm  # noqa: E402
from examples.target.defects import DEFECTS, UnknownDefectError, parse_defects  # noqa: E402
from examples.target.launch import RunningTarget, start_target  # noqa: E402

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


def target_env(target: RunningTarget) -> dict[str, str]:
    """The variables the example config reads, for this running target."""
    return {
        **os.environ,
        "TARGET_HTTPS_URL": target.https_url,
        "TARGET_CA_BUNDLE": str(target.ca_bundle),
        "TARGET_TOKEN": target.token,
        "PRODUCTION_URL": target.production_url,
        "TARGET_SCAN_REPORT": str(target.ca_bundle.parent / "trivy.json"),
    }


def main(argv: list[str] | None = None) -> int:
    defects = parse_defects_args(argv)
    stop_on_sigterm()
    reports = STATE / "demo"
    config = HERE / "preprod.yml"
    # the database the CLI uses by default from ROOT, named absolutely for the gate
    database = os.environ.get("DATABASE_URL") or f"sqlite:///{STATE / 'preprod.db'}"
    regression = any(d.split("=", 1)[0] == "regress" for d in defects)
    if regression:
        previous = regression_demo.PREVIOUS
        with start_target(state_dir=STATE / "target-baseline", app_version=previous) as healthy:
            failed = regression_demo.baseline(config, database, target_env(healthy), reports, ROOT)
        if failed is not None:
            return failed
    print(f"Starting the example target{' with defects: ' + ', '.join(defects) if defects else ''}")
    with start_target(*defects, state_dir=STATE / "target") as target:
        print(f"  listening on {target.https_url} (CA {target.ca_bundle})\n")
        env = target_env(target)
        command = [
            sys.executable, "-m", "bot.cli", "check",
            "--config", str(config), "--env", "staging",
            "--service", "checkout-api", "--release", "2.14.0",
            "--json", str(reports / "run.json"),
            "--junit", str(reports / "junit.xml"),
            "--html", str(reports / "report.html"),
        ]  # fmt: skip
        code = subprocess.call(command, cwd=ROOT, env=env)
        found = statuses(reports / "run.json")
        if regression:
            print("\nRegression step: 2.14.0 with the latency plan, compared with the last GO")
            latency = reports / "latency.json"
            command = regression_demo.check_command(config, database, "2.14.0", latency)
            latency_code = subprocess.call(command, cwd=ROOT, env=env)
            code = code if latency_code in (0, 1) else latency_code
            found = {**found, **statuses(latency)}
    return outcome(code, defects, found, reports / "report.html")


CAUGHT_BY: dict[str, tuple[str, ...]] = {
    "slow": ("smoke",), "errors": ("smoke",), "flaky": ("load",),
    "no-hsts": ("headers",), "no-csp": ("headers",), "insecure-cookie": ("headers",),
    "server-version": ("headers",), "open-admin": ("auth",),
    "expiring-cert": ("tls",), "expired-cert": ("tls",), "wrong-host": ("tls",),
    "tls10": ("tls",), "degrade": ("stress",), "contention": ("load",),
    "health-degraded": ("ops",), "metrics-missing": ("ops",), "alert-no-runbook": ("ops",),
    "runbook-missing-section": ("ops",), "rollback-stuck": ("rollback",),
    "switch-drops": ("bluegreen",), "restore-loses-data": ("restore",),
    "parity-drift": ("parity",), "pii-leak": ("pii",), "no-audit": ("audit",),
    "user-admin": ("authz",), "critical-finding": ("findings",),
    "regress": ("latency",),
}  # fmt: skip
"""The example plan's check that must object to each defect (the README's table). A
slower release (``regress=N``) is caught by the ``latency`` plan's check against the GO
of the release before (the demo's regression step)."""

OBJECTED = ("failed", "warned")


def statuses(report: Path) -> dict[str, str]:
    """Each check's status in the run's JSON report (empty when there is none)."""
    try:
        results = json.loads(report.read_text())["results"]
    except (OSError, ValueError, KeyError):
        return {}
    return {str(r["check_id"]): str(r["status"]) for r in results}


def outcome(code: int, defects: list[str], found: dict[str, str], report: Path) -> int:
    """Say what the run really did: which checks failed, which could not judge (error),
    and whether each planted defect was objected to by its check. With defects planted,
    exit 1 that caught every one of them is the demo working as intended (exit 0)."""
    print(f"\npreprod check exited {code}. Open {report} for the full report.")
    for status, meaning in (
        ("failed", "failed"),
        ("warned", "warned"),
        ("error", "could not judge (error)"),
    ):
        if names := [check for check, s in found.items() if s == status]:
            print(f"  {meaning}: {', '.join(names)}")
    if not defects:
        print("Try failures: make demo DEFECTS=slow,no-hsts,tls10")
        return code
    if code not in (0, 1) or not found:
        return code or 1
    judged = [d for d in defects if CAUGHT_BY[d.split("=", 1)[0]]]
    missed = [
        d for d in judged if not any(found.get(c) in OBJECTED for c in CAUGHT_BY[d.split("=")[0]])
    ]
    errors = [check for check, s in found.items() if s == "error"]
    if missed:
        for defect in missed:
            wanted = ", ".join(CAUGHT_BY[defect.split("=", 1)[0]])
            print(f"Not caught: {defect} (expected {wanted} to object)")
        return 1
    print(f"The gate caught every planted defect ({', '.join(defects)}), as intended.")
    if errors:
        print(
            f"{len(errors)} check{'s' if len(errors) != 1 else ''} could not judge the "
            f"target at all (error, blocking): {', '.join(errors)}; they did not catch a "
            "defect, they failed to run (see their summaries in the report)."
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
