"""The pure decisions of ``preprod request`` / ``preprod wait`` (bot/cli/pipeline_wait.py):
exit codes, the CI environment, the lines printed, the retry schedule."""

from __future__ import annotations

from typing import Any

import pytest

from bot.cli import pipeline_wait as pw


def view(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": 7,
        "service": "checkout-api",
        "version": "2.14.0",
        "environment": "prod",
        "status": "finished",
        "decision": "pending",
        "reasons": [],
        "checks": {"total": 5, "done": 5, "failed": 1, "items": []},
        "awaiting": [{"role": "sre", "label": "SRE"}, {"role": "security", "label": ""}],
        "links": {"self": "/api/v1/runs/7", "report": "https://bot/runs/7", "thread": None},
        "superseded_by": None,
    }
    return {**base, **changes}


@pytest.mark.parametrize(
    ("decision", "code"),
    [
        ("go", 0),
        ("no-go", 1),
        ("expired", 3),
        ("cancelled", 3),
        ("superseded", 3),
        ("pending", None),
        ("something-new", None),
    ],
)
def test_exit_code_of_a_decision(decision: str, code: int | None) -> None:
    assert pw.exit_code(view(decision=decision)) == code


def test_an_answer_that_is_not_a_run_is_named() -> None:
    with pytest.raises(pw.BadAnswer):
        pw.exit_code({"status": "ok"})
    with pytest.raises(pw.BadAnswer):
        pw.exit_code({"id": "7", "decision": "go"})


def test_progress_line() -> None:
    assert pw.progress_line(view()) == (
        "run #7 checkout-api 2.14.0 to prod: checks 5/5 (1 failed); awaiting SRE, security "
        "https://bot/runs/7"
    )
    running = view(status="running", awaiting=[], checks={"total": 5, "done": 2}, links={})
    assert pw.progress_line(running) == (
        "run #7 checkout-api 2.14.0 to prod: checks 2/5; checks running"
    )


def test_verdict_lines() -> None:
    assert pw.verdict_line(view(decision="go")).startswith("GO: run #7 checkout-api 2.14.0")
    no_go = view(decision="no-go", reasons=["load failed", "security rejected"])
    assert pw.verdict_line(no_go) == (
        "NO-GO: run #7 checkout-api 2.14.0 to prod (load failed; security rejected) "
        "https://bot/runs/7"
    )
    superseded = pw.verdict_line(view(decision="superseded", superseded_by=9))
    assert superseded.startswith("SUPERSEDED: run #7") and ", by run #9" in superseded


def test_timeout_line_says_the_run_goes_on() -> None:
    assert pw.timeout_line(view(), 7, "10m") == (
        "timed out after 10m: run #7 checkout-api 2.14.0 to prod is still pending and goes "
        "on; `preprod wait 7` resumes waiting"
    )
    assert "before the gate accepted" in pw.timeout_line(None, None, "2s")


GITHUB = {
    "GITHUB_ACTIONS": "true",
    "GITHUB_RUN_ID": "123",
    "GITHUB_RUN_ATTEMPT": "2",
    "GITHUB_JOB": "deploy",
    "GITHUB_WORKFLOW": "release",
    "GITHUB_SERVER_URL": "https://github.example",
    "GITHUB_REPOSITORY": "acme/shop",
    "GITHUB_ACTOR": "octocat",
    "GITHUB_SHA": "abc",
}
GITLAB = {
    "GITLAB_CI": "true",
    "CI_JOB_ID": "555",
    "CI_JOB_URL": "https://gitlab.example/acme/shop/-/jobs/555",
    "GITLAB_USER_LOGIN": "tanuki",
    "CI_PROJECT_PATH": "acme/shop",
    "CI_JOB_NAME": "gate",
    "CI_COMMIT_SHA": "def",
}
JENKINS = {
    "JENKINS_URL": "https://ci.example/",
    "BUILD_TAG": "jenkins-shop-42",
    "BUILD_URL": "https://ci.example/job/shop/42/",
    "JOB_NAME": "shop",
    "GIT_COMMIT": "0123",
}


def test_sources_from_each_ci() -> None:
    assert pw.ci_source(GITHUB) == {
        "kind": "github",
        "url": "https://github.example/acme/shop/actions/runs/123",
        "triggered_by": "octocat",
        "name": "release / deploy",
    }
    assert pw.ci_source(GITLAB) == {
        "kind": "gitlab",
        "url": "https://gitlab.example/acme/shop/-/jobs/555",
        "triggered_by": "tanuki",
        "name": "acme/shop / gate",
    }
    assert pw.ci_source(JENKINS) == {
        "kind": "jenkins",
        "url": "https://ci.example/job/shop/42/",
        "name": "shop",
    }
    assert pw.ci_source({"USER": "rita"}) == {"kind": "cli", "triggered_by": "rita"}
    assert [pw.ci_commit(e) for e in (GITHUB, GITLAB, JENKINS, {})] == ["abc", "def", "0123", None]


def test_idempotency_keys_follow_the_ci_job_and_the_release() -> None:
    key = pw.ci_idempotency_key(GITHUB, "shop", "1.0", "prod")
    assert key is not None and key.startswith("github-123-2-deploy-")
    assert key == pw.ci_idempotency_key(dict(GITHUB), "shop", "1.0", "prod"), "stable"
    assert key != pw.ci_idempotency_key(
        {**GITHUB, "GITHUB_RUN_ATTEMPT": "3"}, "shop", "1.0", "prod"
    )
    assert key != pw.ci_idempotency_key(GITHUB, "shop", "1.0", "staging")
    gitlab = pw.ci_idempotency_key(GITLAB, "shop", "1.0", "prod")
    assert gitlab is not None and gitlab.startswith("gitlab-555-")
    jenkins = pw.ci_idempotency_key(JENKINS, "shop", "1.0", "prod")
    assert jenkins is not None and jenkins.startswith("jenkins-jenkins-shop-42-")
    assert pw.ci_idempotency_key({}, "shop", "1.0", "prod") is None
    long = pw.ci_idempotency_key({**GITHUB, "GITHUB_JOB": "j" * 300}, "shop", "1.0", "prod")
    assert long is not None and len(long) <= 200 and pw.key_problem(long) is None


def test_key_problems() -> None:
    assert pw.key_problem("deploy-42") is None
    assert pw.key_problem(" ") == "the idempotency key is empty"
    assert "201 characters" in (pw.key_problem("k" * 201) or "")
    assert "printable ASCII" in (pw.key_problem("clé") or "")
    assert "printable ASCII" in (pw.key_problem("a\nb") or "")


def test_backoff_grows_is_capped_and_jittered() -> None:
    assert [pw.backoff(n, 1.0) for n in range(8)] == [0.5, 1, 2, 4, 8, 16, 30, 30]
    assert [pw.backoff(n, 0.0) for n in range(3)] == [0.25, 0.5, 1]
    assert pw.backoff(10_000, 0.5) == 22.5, "no overflow on a very long outage"


def test_retry_after_wins_when_usable() -> None:
    assert pw.retry_delay(5, 1.0, "3") == 3.0
    assert pw.retry_delay(0, 1.0, "Wed, 21 Oct 2026 07:28:00 GMT") == 0.5
    assert pw.retry_delay(0, 1.0, "-1") == 0.5
    assert pw.retry_delay(0, 1.0, "nan") == 0.5
    assert pw.retry_after("86400") == 300.0


def test_the_outage_lines_say_the_gate_was_lost_then_regained() -> None:
    assert pw.retry_line("ConnectError", 0.3, first=True) == (
        "preprod: lost the gate: ConnectError; retrying in 0.3s"
    )
    assert pw.retry_line("HTTP 503", 1.25, first=False) == "preprod: HTTP 503; retrying in 1.2s"
    assert pw.regained_line(3.04, 4) == "preprod: regained the gate after 3.0s (4 retries)"
    assert pw.regained_line(0.5, 1).endswith("(1 retry)")


def test_error_answers() -> None:
    body = {"error": {"code": "forbidden", "message": "not\nallowed"}}
    assert pw.error_message(403, body) == "forbidden: not allowed"
    assert pw.error_message(500, "<html>") == "HTTP 500"
    assert [pw.status_exit(s) for s in (401, 403, 400, 404, 409, 413, 422, 500)] == [
        4,
        4,
        2,
        2,
        2,
        2,
        2,
        5,
    ]
