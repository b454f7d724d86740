"""serve loads what its plans' first run would load before it answers anyone
(checks/warm.py): the kinds' modules, the HTTP client's connection stack and each
environment's TLS context. Checked in a fresh interpreter, where nothing of it is
loaded yet."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

from checks.warm import load_for_runs
from tests.support.target import RunningTarget

ROOT = Path(__file__).resolve().parents[1]


def fresh(code: str) -> dict[str, object]:
    """Run ``code`` in a new interpreter; it prints one JSON object."""
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def test_serve_loads_its_plans_kinds_the_http_stack_and_tls_contexts_before_serving(
    tmp_path: Path, healthy_target: RunningTarget
) -> None:
    config = tmp_path / "preprod.yml"
    config.write_text(
        "channel: C0RELEASES\nenvironments:\n  staging:\n"
        f"    base_url: {healthy_target.https_url}\n"
        f"    ca_bundle: {healthy_target.ca_bundle}\n    plan: quick\n"
        "plans:\n  quick:\n    checks:\n"
        "      - {id: smoke, type: http, requests: [{path: /healthz}]}\n"
        "      - {id: cert, type: tls}\n"
    )
    found = fresh(f"""
        import json, sys
        from bot.config.loader import load_config
        from bot.web.server import warm_up
        from checks.context import _context
        watched = ["checks.http", "checks.tls", "httpcore._async",
                   "anyio._backends._asyncio", "certifi"]
        before = [m for m in watched if m in sys.modules]
        warm_up(load_config({str(config)!r}))
        after = [m for m in watched if m in sys.modules]
        print(json.dumps({{"before": before, "after": after,
                          "contexts": _context.cache_info().currsize}}))
    """)
    assert found["before"] == []
    assert found["after"] == [
        "checks.http", "checks.tls", "httpcore._async", "anyio._backends._asyncio", "certifi"
    ]  # fmt: skip
    assert found["contexts"] == 1  # the environment's bundle, built once for every run


def test_what_cannot_be_loaded_is_left_for_the_run_to_report(tmp_path: Path) -> None:
    bad = tmp_path / "ca.pem"
    bad.write_text("not a certificate")
    failed = load_for_runs(["no-such-kind"], [tmp_path / "missing.pem", bad])
    assert failed[0] == "check type 'no-such-kind'"
    assert sorted(f.split(" (")[0] for f in failed[1:]) == sorted(
        [f"CA bundle {tmp_path / 'missing.pem'}", f"CA bundle {bad}"]
    )
