"""Measure the figures the documentation quotes, so no page states a number from memory:
run the example plan with the real CLI, as ``make demo`` does, against the example target
healthy, with the Slack demo's ``contention`` defect and with the README's
``slow,no-hsts,tls10``, and write what happened to ``docs/figures.json``. The site's build
(``docs/gen_reference.py``) puts these values where a page writes ``{{ figures.NAME }}``.

    python docs/measure_figures.py        (about three runs of the example plan)
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from examples.target.launch import start_target  # noqa: E402

OUT = ROOT / "docs" / "figures.json"
SCENARIOS: dict[str, tuple[str, ...]] = {
    "demo": (),  # make demo
    "demo_slack": ("contention",),  # make demo-slack: the target it starts
    "demo_defects": ("slow", "no-hsts", "tls10"),  # make demo DEFECTS=slow,no-hsts,tls10
}


def run_plan(defects: tuple[str, ...], work: Path) -> dict[str, Any]:
    """One ``preprod check`` of examples/preprod.yml's staging plan; its report, as JSON."""
    report = work / "run.json"
    with start_target(*defects, state_dir=work / "target") as target:
        env = {
            **os.environ,
            "TARGET_HTTPS_URL": target.https_url,
            "TARGET_CA_BUNDLE": str(target.ca_bundle),
            "TARGET_TOKEN": target.token,
            "PRODUCTION_URL": target.production_url,
            "TARGET_SCAN_REPORT": str(target.ca_bundle.parent / "trivy.json"),
            "PREPROD_WORK_DIR": str(work / "runs"),
        }
        command = [
            sys.executable, "-m", "bot.cli", "check",
            "--config", str(ROOT / "examples" / "preprod.yml"), "--env", "staging",
            "--service", "checkout-api", "--release", "2.14.0",
            "--database", f"sqlite:///{work / 'preprod.db'}", "--json", str(report),
        ]  # fmt: skip
        started = time.monotonic()
        code = subprocess.call(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL)
        wall = time.monotonic() - started
    data: dict[str, Any] = json.loads(report.read_text(encoding="utf-8"))
    data["exit"], data["wall_s"] = code, wall
    return data


def summary(name: str, data: dict[str, Any]) -> dict[str, str]:
    """The figures of one scenario, as the pages quote them."""
    results = data["results"]
    failed = [r for r in results if r["status"] in ("failed", "error")]
    blocking = [r["check_id"] for r in failed if r["blocking"]]
    other = [r["check_id"] for r in failed if not r["blocking"]]
    return {
        f"{name}_seconds": f"{data['duration_s']:.0f}",
        f"{name}_checks": str(len(results)),
        f"{name}_exit": str(data["exit"]),
        f"{name}_blocking": ", ".join(blocking) or "none",
        f"{name}_not_blocking": ", ".join(other) or "none",
    }


def main() -> int:
    figures: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="preprod-figures-") as tmp:
        for name, defects in SCENARIOS.items():
            work = Path(tmp) / name
            work.mkdir()
            data = run_plan(defects, work)
            found = summary(name, data)
            for result in data["results"]:
                if result["status"] in ("failed", "error"):
                    print(f"  {name}: {result['check_id']} {result['status']}: {result['summary']}")
            for key, value in found.items():
                print(f"{key}: {value}")
            figures |= found
    load = os.getloadavg()[0]
    measured = {
        "measured_at": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{os.cpu_count()} cores (load average {load:.0f} when done), "
        f"{platform.system()}, Python {platform.python_version()}",
        "command": "python docs/measure_figures.py",
    }
    OUT.write_text(json.dumps(measured | figures, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {OUT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
