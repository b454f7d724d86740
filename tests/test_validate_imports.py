"""`preprod config validate` loads and checks a plan without importing any check's
implementation: each built-in kind's options model lives in a light module
(checks/registry.py's BUILTIN_OPTIONS), its check class is imported when a check is built
or run (issue 26, point 2: validate under 0.4 s). A functional guard: it asserts which
modules were imported, and that the answer is the one the full classes give."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import certifi
import pytest

from checks import registry

ROOT = Path(__file__).resolve().parents[1]

NOT_LOADED = (
    "httpx",
    "checks.load.check",
    "checks.ops.check",
    "checks.tls",
    "checks.drill.check",
    "checks.pii.check",
    "checks.http",
    "checks._http",
    "markdown_it",
    "prometheus_client",
    "cryptography",
    "locust",
    "stdnum",
)

PROBE = """
import contextlib, io, json, sys
from bot.cli.main import main
with contextlib.redirect_stdout(io.StringIO()) as out:
    code = main(["config", "validate", "--config", sys.argv[1]])
loaded = [m for m in json.loads(sys.argv[2]) if m in sys.modules]
print(json.dumps({"code": code, "out": out.getvalue(), "loaded": loaded}))
"""


def test_validate_imports_no_check_implementation(tmp_path: Path) -> None:
    config = tmp_path / "examples" / "preprod.yml"
    config.parent.mkdir()
    shutil.copy(ROOT / "examples" / "preprod.yml", config)
    ca = tmp_path / ".preprod" / "target" / "ca.pem"  # made by the example target: any CA
    ca.parent.mkdir(parents=True)
    shutil.copy(certifi.where(), ca)
    done = subprocess.run(
        [sys.executable, "-c", PROBE, str(config), json.dumps(NOT_LOADED)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    found = json.loads(done.stdout)
    assert found["loaded"] == [], f"config validate imported {found['loaded']}"
    assert found["code"] == 0, done.stderr
    assert found["out"] == f"{config}: ok (1 environments, 2 plans, 17 checks)\n"


def test_the_light_table_agrees_with_each_check_class() -> None:
    """The options model and own placeholders validation reads are the very ones each
    built-in check class holds, so validating and running judge a plan alike."""
    assert set(registry.BUILTIN_OPTIONS) == set(registry.BUILTIN)
    for name in registry.BUILTIN:
        kind = registry.get_check_type(name)
        facts = registry.kind_facts(name)
        assert kind.type_name == name
        assert facts.options is kind.Options, name
        assert facts.own_placeholders == kind.own_placeholders, name


@pytest.mark.parametrize("ask", [registry.kind_facts, registry.get_check_type])
def test_an_unknown_kind_lists_the_known_ones(ask: Callable[[str], object]) -> None:
    with pytest.raises(registry.UnknownCheckType) as caught:
        ask("htp")
    assert caught.value.known == sorted(registry.check_types())
    assert "unknown check type 'htp'; known types: audit_logging, auth_required" in str(
        caught.value
    )


def test_a_plan_of_built_in_kinds_loads_without_reading_entry_points(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A plug-in never shadows a built-in, so reading the installed packages' entry points
    (13 ms here) is only for a kind that is not built in."""
    from bot.config.loader import load_config

    def read(group: str) -> list[object]:
        raise AssertionError(f"entry points of {group!r} read")

    monkeypatch.setattr(registry, "entry_points", read)
    registry._plugins.cache_clear()
    try:
        config = load_config(ROOT / "examples" / "preprod.yml", missing_files=[])
        assert {spec.type for plan in config.plans.values() for spec in plan.checks} <= set(
            registry.BUILTIN
        )
        assert registry.get_check_type("http").type_name == "http"
    finally:
        registry._plugins.cache_clear()


def test_each_check_s_options_are_validated_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """The loader validates each check's options to report every problem; the specs take
    those very objects instead of validating again (which read a load test's access log a
    second time)."""
    from bot.config.loader import load_config
    from checks.load import access_log

    derived: list[int] = []
    real = access_log.derive_mix

    def counted(lines: list[str], **kwargs: Any) -> access_log.Mix:
        derived.append(len(lines))
        return real(lines, **kwargs)

    monkeypatch.setattr(access_log, "derive_mix", counted)
    config = load_config(ROOT / "examples" / "preprod.yml", missing_files=[])
    from_logs = [
        spec
        for plan in config.plans.values()
        for spec in plan.checks
        if "tasks_from" in spec.raw_options
    ]
    assert from_logs and len(derived) == len(from_logs)
    for spec in from_logs:
        assert spec.options.tasks_from._mix is not None  # type: ignore[attr-defined]
