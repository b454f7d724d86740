"""`make demo-pipeline`: the Makefile's arguments, the demo's config, a port clash named at
once, and the whole path played with ``--auto`` on the quick plan (in this process: the
target, the Slack stand-in and `preprod serve` are real subprocesses, the GitHub
stand-in serves from a thread): the webhook, the thread, the checks, the clicks in the
Slack stand-in's web view, and GitHub's ``approved`` with the signers."""

from __future__ import annotations

import socket
from pathlib import Path

import certifi
import pytest

from bot.config.loader import load_config
from examples import pipeline_demo
from tests.support.processes import free_ports
from tests.support.target import REPO_ROOT
from tests.test_demos import make_dry_run

README = (REPO_ROOT / "README.md").read_text()


def test_make_demo_pipeline_passes_ports_plan_and_mode() -> None:
    args = pipeline_demo.parse_args(
        make_dry_run(
            "demo-pipeline", "BOT_PORT=3100", "WEB_PORT=3101", "GITHUB_PORT=3102",
            "PLAN=quick", "AUTO=reject", "DEFECTS=contention",
        )
    )  # fmt: skip
    assert (args.bot_port, args.port, args.github_port) == (3100, 3101, 3102)
    assert (args.plan, args.auto, args.reject, args.defects) == (
        "quick",
        True,
        True,
        ["contention"],
    )
    default = pipeline_demo.parse_args(make_dry_run("demo-pipeline"))
    assert (default.bot_port, default.port, default.github_port) == (3000, 3001, 3002)
    assert (default.plan, default.auto, default.reject, default.defects) == (
        "standard", False, False, []
    )  # fmt: skip
    go = pipeline_demo.parse_args(make_dry_run("demo-pipeline", "AUTO=go"))
    assert (go.auto, go.reject) == (True, False)
    assert "make demo-pipeline" in README


def test_reject_without_auto_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        pipeline_demo.parse_args(["--reject"])
    assert exited.value.code == 2
    assert "--reject goes with --auto" in capsys.readouterr().err


def test_the_demo_config_maps_the_github_job_and_loads(tmp_path: Path) -> None:
    settings = pipeline_demo.demo_config("quick")
    checks = [c["id"] for c in settings["plans"]["quick"]["checks"]]
    assert checks == list(pipeline_demo.QUICK)
    requests = [r for c in settings["plans"]["quick"]["checks"] for r in c.get("requests", [])]
    assert requests and not [r for r in requests if "max_ms" in r]  # a busy machine passes
    standard = pipeline_demo.demo_config("standard")["plans"]["standard"]["checks"]
    assert any("max_ms" in r for r in standard[0]["requests"])  # the standard plan untouched
    path = tmp_path / "preprod.yml"
    path.write_text(pipeline_demo.yaml.safe_dump(settings))
    config = load_config(path, {"TARGET_CA_BUNDLE": certifi.where()})  # any PEM bundle
    assert config.github is not None
    [(repo, mapped)] = config.github.repositories.items()
    assert repo == pipeline_demo.REPO
    target = mapped.environments[pipeline_demo.ENVIRONMENT]
    assert (target.service, target.environment, target.plan) == ("checkout-api", "staging", "quick")


def test_a_port_in_use_is_named_at_once(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bot, web, github = free_ports(3)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", github))
        busy.listen()
        code = pipeline_demo.main(
            ["--bot-port", str(bot), "--port", str(web), "--github-port", str(github),
             "--state-dir", str(tmp_path)]
        )  # fmt: skip
    assert code == 2
    err = capsys.readouterr().err
    assert f"port {github} is in use (the GitHub view, GITHUB_PORT)" in err
    assert "GITHUB_PORT=" in err and not (tmp_path / "bot.log").exists()


def test_auto_go_ends_with_the_job_approved_with_its_signers(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bot, web, github = free_ports(3)
    # --timeout: the demo's own bound (no wall-clock assertion: the machine is shared)
    code = pipeline_demo.main(
        ["--auto", "--plan", "quick", "--timeout", "60", "--bot-port", str(bot),
         "--port", str(web), "--github-port", str(github), "--state-dir", str(tmp_path)]
    )  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0, out + (tmp_path / "bot.log").read_text()
    lines = [
        "waits on environment production; webhook answered 202",
        "Slack: the run's thread opened in #releases",
        "preprod: checks done: 3 passed, 0 failed",
        "GitHub: preprod commented on the job: preprod run #1 (checkout-api 2.14.0 on staging)"
        " started",
        "Slack: signed off for SRE by sam (U0SRE1)",
        "Slack: signed off for Compliance by casey (U0CMP1)",
        "Slack: signed off for Security by sid (U0SEC1)",
        "preprod: the gate decided GO",
        "GitHub: the job is APPROVED, ",
        "Signed off by SRE: U0SRE1; Security: U0SEC1; Compliance: U0CMP1.",
        "ok: GitHub recorded approved",
    ]
    for line in lines:
        assert line in out, out
    # in the order they happened: waiting, checks, sign-offs, decision, GitHub's answer
    order = [out.index(line) for line in (lines[0], lines[2], lines[7], lines[8])]
    assert order == sorted(order), out
