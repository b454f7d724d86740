"""``preprod request`` / ``preprod wait`` as a pipeline runs them, against a real HTTP
server that follows the API contract (tests/support/fake_api.py). Every exit code, retries
through outages and a restart, the idempotency key, ``--json`` and the progress on stderr.

Most cases run the CLI in this process (``main()``, the environment set as a pipeline
step's would be, output from capsys): a new interpreter costs about a second and adds
nothing there. Three run the real ``python -m bot.cli`` in a subprocess: a GO with its
progress on stderr, a usage error, and a restart of the server during the wait."""

from __future__ import annotations

import functools
import json
import os
import re
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from bot.cli import request_cmd
from tests.support.fake_api import FakeApi
from tests.support.in_process import preprod_main
from tests.support.processes import free_port, preprod_command

CI_PREFIXES = ("GITHUB_", "GITLAB_", "CI_", "PREPROD_", "JENKINS_", "BUILD_")
CI_NAMES = ("CI", "GIT_COMMIT", "JOB_NAME")
FAST = ("--poll-wait", "0", "--retry-for", "20s")
"""Polls answered at once; the pauses between them are quick with the ``paused`` fixture."""
LONG_POLLS = ("--poll-wait", "1", "--retry-for", "20s")
"""Polls held by the server for a second while the run is pending."""


@dataclass
class Done:
    code: int
    stdout: str
    stderr: str
    seconds: float

    def json(self) -> dict[str, Any]:
        lines = self.stdout.splitlines()
        assert len(lines) == 1, self.stdout
        verdict: dict[str, Any] = json.loads(lines[0])
        return verdict


def environ(api_url: str | None, token: str | None = "t0k", **extra: str) -> dict[str, str]:
    """The test's environment without any CI variable of the machine running the tests
    (and a fixed terminal width: Rich and argparse read $COLUMNS)."""
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(CI_PREFIXES) and k not in CI_NAMES
    }
    env["COLUMNS"] = "200"
    if api_url is not None:
        env["PREPROD_URL"] = api_url
    if token is not None:
        env["PREPROD_TOKEN"] = token
    return {**env, **extra}


def subprocess_cli(*args: str, env: dict[str, str], timeout: float = 60.0) -> Done:
    """The real entry point, ``python -m bot.cli``, in a new process."""
    started = time.monotonic()
    proc = subprocess.run(
        preprod_command(*args), env=env, capture_output=True, text=True, timeout=timeout
    )
    return Done(proc.returncode, proc.stdout, proc.stderr, time.monotonic() - started)


@dataclass
class Preprod:
    """``preprod`` in this process, with exactly the environment ``env`` while it runs
    (every other variable is removed meanwhile, as for a subprocess given ``env``)."""

    capsys: pytest.CaptureFixture[str]

    def __call__(self, *args: str, env: dict[str, str]) -> Done:
        self.capsys.readouterr()  # only this command's output
        started = time.monotonic()
        with pytest.MonkeyPatch.context() as patch:
            for name in [n for n in os.environ if n not in env]:
                patch.delenv(name)
            for name, value in env.items():
                patch.setenv(name, value)
            code = preprod_main(*args)
        seconds = time.monotonic() - started
        captured = self.capsys.readouterr()
        return Done(code, captured.out, captured.err, seconds)

    def request(self, api: FakeApi, *args: str, **extra: str) -> Done:
        env = environ(api.url, **extra)
        return self("request", "checkout-api", "2.14.0", "staging", *args, env=env)


@pytest.fixture
def preprod(capsys: pytest.CaptureFixture[str]) -> Preprod:
    return Preprod(capsys)


@pytest.fixture
def paused(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The pauses the in-process CLI takes (before a retry, between two polls answered
    early), in seconds as asked, in order; each lasts 10 ms instead. The real clock still
    runs: --retry-for and --timeout are not affected."""
    asked: list[float] = []

    def sleep(seconds: float) -> None:
        asked.append(seconds)
        time.sleep(min(seconds, 0.01))

    monkeypatch.setattr(request_cmd, "Gate", functools.partial(request_cmd.Gate, sleep=sleep))
    return asked


@pytest.fixture
def api() -> Iterator[FakeApi]:
    fake = FakeApi()
    fake.start()
    yield fake
    fake.stop()


# -- the real entry point -----------------------------------------------------------------


def test_go_in_a_process_exits_0_with_the_verdict_on_stdout_and_progress_on_stderr(
    api: FakeApi,
) -> None:
    api.decide_after = 1
    done = subprocess_cli(
        "request", "checkout-api", "2.14.0", "staging", "--wait", "--poll-wait", "1",
        env=environ(api.url),
    )  # fmt: skip
    assert done.code == 0, done.stderr
    assert done.stdout.splitlines() == [
        "GO: run #1 checkout-api 2.14.0 to staging https://slack.example/archives/C0/p1"
    ]
    head, thread = (
        "run #1 checkout-api 2.14.0 to staging: checks",
        "https://slack.example/archives/C0/p1",
    )
    progress = [line for line in done.stderr.splitlines() if line.startswith("run #1")]
    assert progress == [
        f"{head} 1/3; awaiting SRE {thread}",
        f"{head} 2/3; checks running {thread}",
    ]
    assert [g.query for g in api.gets()] == ["wait=1"] and len(api.posts()) == 1


def test_a_usage_error_in_a_process_exits_2(api: FakeApi) -> None:
    done = subprocess_cli("wait", "1", "--poll-wait", "61", env=environ(api.url))
    assert done.code == 2 and "0 to 60 seconds" in done.stderr
    assert done.stdout == "" and api.requests == []


def test_a_restart_during_the_wait_does_not_end_it(api: FakeApi) -> None:
    api.decide_after = None
    proc = subprocess.Popen(
        preprod_command("request", "a", "1", "staging", "--wait", "--json", "--poll-wait", "30"),
        env=environ(api.url),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while not api.gets():  # a long poll is being held
            assert time.monotonic() < deadline and proc.poll() is None
            time.sleep(0.05)
        api.stop()
        time.sleep(1.0)  # down: connections refused
        api.start()
        while len(api.gets()) < 2:  # it came back, on the same run
            assert time.monotonic() < deadline and proc.poll() is None
            time.sleep(0.05)
        api.decide(1, "go")
        stdout, stderr = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:  # only on failure: the process this test started, by pid
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, stderr
    assert "retrying in" in stderr
    assert json.loads(stdout)["exit"] == 0
    assert {g.path for g in api.gets()} == {"/api/v1/runs/1"} and len(api.runs) == 1


# -- outcomes ---------------------------------------------------------------------------


def test_go_exits_0_with_progress_on_stderr_only_when_it_changes(
    api: FakeApi, preprod: Preprod, paused: list[float]
) -> None:
    api.decide_after = 4
    done = preprod.request(api, "--wait", *FAST)
    assert done.code == 0, done.stderr
    assert done.stdout.startswith("GO: run #1 checkout-api 2.14.0 to staging")
    assert "https://slack.example/archives/C0/p1" in done.stdout
    progress = [line for line in done.stderr.splitlines() if line.startswith("run #1")]
    head, thread = (
        "run #1 checkout-api 2.14.0 to staging: checks",
        "https://slack.example/archives/C0/p1",
    )
    assert progress == [  # the third poll changed nothing: no line
        f"{head} 1/3; awaiting SRE {thread}",
        f"{head} 2/3; awaiting SRE {thread}",
        f"{head} 3/3; awaiting SRE {thread}",
        f"{head} 3/3 {thread}",
    ]
    assert len(api.posts()) == 1 and len(api.gets()) == 4
    # the three polls answered at once without news were each followed by a pause that
    # brings the time between two polls to MIN_POLL_INTERVAL
    assert len(paused) == 3
    assert all(0 < p <= request_cmd.MIN_POLL_INTERVAL for p in paused), paused


def test_no_go_exits_1_with_its_reasons(api: FakeApi, preprod: Preprod) -> None:
    api.decision, api.reasons, api.decide_after = "no-go", ("security rejected",), 1
    done = preprod.request(api, "--wait", *FAST)
    assert done.code == 1, done.stderr
    assert done.stdout.startswith("NO-GO: run #1 checkout-api 2.14.0 to staging")
    assert "(security rejected)" in done.stdout


@pytest.mark.parametrize("decision", ["expired", "cancelled", "superseded"])
def test_a_run_that_ends_undecided_exits_3(api: FakeApi, preprod: Preprod, decision: str) -> None:
    api.decision, api.decide_after = decision, 1
    done = preprod.request(api, "--wait", "--json", *FAST)
    assert done.code == 3, done.stderr
    assert done.json()["decision"] == decision and done.json()["exit"] == 3


def test_json_verdict_is_the_run_view_plus_exit(api: FakeApi, preprod: Preprod) -> None:
    api.decide_after, api.decision, api.reasons = 1, "no-go", (":warning: load\x1b[2J",)
    done = preprod.request(api, "--wait", "--json", "--commit", "abc123", *FAST)
    assert done.code == 1, done.stderr
    assert "\x1b" not in done.stdout
    verdict = done.json()
    assert set(verdict) == {
        *("id", "service", "version", "environment", "plan", "status", "decision"),
        *("reasons", "checks", "awaiting", "signoffs", "links", "audit", "superseded_by"),
        *("source", "commit", "exit"),
    }
    assert (verdict["id"], verdict["decision"], verdict["exit"]) == (1, "no-go", 1)
    assert verdict["reasons"] == [":warning: load\x1b[2J"], "the data, unchanged by the printing"
    assert verdict["commit"] == "abc123"
    assert "run #1" in done.stderr, "progress still goes to stderr"


def test_request_without_wait_then_wait(
    api: FakeApi, preprod: Preprod, paused: list[float]
) -> None:
    api.decide_after = 2
    done = preprod.request(api, *FAST)
    assert done.code == 0, done.stderr
    assert "requested: run #1" in done.stdout and "`preprod wait 1`" in done.stdout
    assert api.gets() == []
    waited = preprod("wait", "1", "--poll-wait", "30", env=environ(api.url))
    assert waited.code == 0, waited.stderr
    assert [g.query for g in api.gets()] == ["wait=0", "wait=30"], "where it stands first"
    assert waited.stdout.startswith("GO: run #1")


# -- authorisation and bad input ----------------------------------------------------------


def test_unknown_token_exits_4_and_never_prints_it(api: FakeApi, preprod: Preprod) -> None:
    done = preprod.request(api, "--wait", *FAST, PREPROD_TOKEN="s3cret-wrong")
    assert done.code == 4
    assert "missing, unknown or revoked token" in done.stderr
    assert "s3cret-wrong" not in done.stdout + done.stderr


def test_missing_token_exits_4_without_asking(api: FakeApi, preprod: Preprod) -> None:
    done = preprod("request", "a", "1", "staging", env=environ(api.url, token=None))
    assert done.code == 4 and "$PREPROD_TOKEN is not set" in done.stderr
    assert api.requests == []


def test_a_token_read_from_a_file_works_and_a_garbled_one_is_refused(
    api: FakeApi, preprod: Preprod
) -> None:
    assert preprod.request(api, *FAST, PREPROD_TOKEN="t0k\n").code == 0
    done = preprod.request(api, *FAST, PREPROD_TOKEN="t0\x07k")
    assert done.code == 4 and "characters a token cannot have" in done.stderr
    assert "t0" not in done.stderr.replace("preprod", "")
    assert len(api.requests) == 1


def test_environment_out_of_scope_exits_4_on_request_and_2_on_read(
    api: FakeApi, preprod: Preprod
) -> None:
    api.tokens = {"t0k": None, "narrow": ("dev",)}
    done = preprod.request(api, "--wait", "--json", *FAST, PREPROD_TOKEN="narrow")
    assert done.code == 4, done.stderr
    assert done.json() == {
        "id": None,
        "error": {"code": "forbidden", "message": done.json()["error"]["message"]},
        "exit": 4,
    }
    assert "may not request staging" in done.stderr
    assert preprod.request(api, *FAST).code == 0  # run 1, staging, with the broad token
    hidden = preprod("wait", "1", *FAST, env=environ(api.url, token="narrow"))
    assert hidden.code == 2 and "run #1: no such run" in hidden.stderr


def test_unknown_run_exits_2(api: FakeApi, preprod: Preprod) -> None:
    done = preprod("wait", "99", "--json", *FAST, env=environ(api.url))
    assert done.code == 2
    assert done.json()["error"]["code"] == "not_found" and done.json()["id"] == 99


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("wait", "1", "--timeout", "soon"), "expected a duration"),
        (("wait", "x"), "is not a run number"),
        (("wait", "1", "--poll-wait", "61"), "0 to 60 seconds"),
        (("request", "a", "1", "staging", "--idempotency-key", "k" * 201), "at most 200"),
        (("wait", "1", "--url", "ftp://gate"), "expected an http(s) URL"),
        (("wait", "1", "--url", "http://[::1"), "--url or $PREPROD_URL: "),
    ],
)
def test_usage_errors_exit_2(
    api: FakeApi, preprod: Preprod, args: tuple[str, ...], message: str
) -> None:
    done = preprod(*args, env=environ(api.url))
    assert done.code == 2 and message in done.stderr
    assert api.requests == []


def test_input_the_gate_refuses_exits_2_with_its_message(api: FakeApi, preprod: Preprod) -> None:
    done = preprod("request", "", "1", "staging", *FAST, env=environ(api.url))
    assert done.code == 2 and "service, version and environment are required" in done.stderr


def test_text_from_the_server_is_escaped(api: FakeApi, preprod: Preprod) -> None:
    api.decide_after = 1
    done = preprod("request", "svc\x1b[2J", "1", "staging", "--wait", *FAST, env=environ(api.url))
    assert done.code == 0
    assert "\x1b" not in done.stdout + done.stderr
    assert "svc\\x1b[2J" in done.stdout and "svc\\x1b[2J" in done.stderr


# -- waiting through outages --------------------------------------------------------------


def test_unreachable_gate_exits_5_after_retry_for(preprod: Preprod) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    done = preprod("request", "a", "1", "staging", "--wait", "--retry-for", "2s", env=environ(url))
    assert done.code == 5, done.stderr
    assert "retrying in" in done.stderr and "giving up" in done.stderr
    assert 1.5 < done.seconds < 15


def test_503_429_and_dropped_connections_are_retried(
    api: FakeApi, preprod: Preprod, paused: list[float]
) -> None:
    api.decide_after = 1
    api.faults = ["503", "drop", "", "429", "502", "drop"]  # "": answered as usual
    done = preprod.request(api, "--wait", *FAST)
    assert done.code == 0, done.stderr
    assert done.stderr.count("retrying in") == 5
    assert [r.method for r in api.requests] == ["POST"] * 3 + ["GET"] * 4
    assert "HTTP 429; retrying in 1.0s" in done.stderr, "Retry-After is honoured"
    assert len(api.runs) == 1
    announced = re.findall(r"retrying in (\d+\.\d)s", done.stderr)
    assert announced == [f"{p:.1f}" for p in paused], "each pause is the one announced"
    assert paused[2] == 1.0, "the 429's Retry-After: 1"


def test_a_lost_answer_is_retried_with_the_same_key(
    api: FakeApi, preprod: Preprod, paused: list[float]
) -> None:
    api.decide_after, api.drop_after_create = 1, 2
    done = preprod.request(api, "--wait", "--idempotency-key", "deploy-42", *FAST)
    assert done.code == 0, done.stderr
    posts = api.posts()
    assert len(posts) == 3 and len(api.runs) == 1
    assert {p.headers["Idempotency-Key"] for p in posts} == {"deploy-42"}


def test_a_retried_ci_step_resumes_its_run(api: FakeApi, preprod: Preprod) -> None:
    github = {
        "GITHUB_ACTIONS": "true",
        "GITHUB_RUN_ID": "777",
        "GITHUB_RUN_ATTEMPT": "1",
        "GITHUB_JOB": "deploy",
        "GITHUB_WORKFLOW": "release",
        "GITHUB_SERVER_URL": "https://github.com",
        "GITHUB_REPOSITORY": "acme/shop",
        "GITHUB_ACTOR": "octocat",
        "GITHUB_SHA": "f00d",
    }
    first, again = preprod.request(api, *FAST, **github), preprod.request(api, *FAST, **github)
    assert first.code == again.code == 0
    assert len(api.runs) == 1
    [run] = api.runs.values()
    assert run.request["source"] == {
        "kind": "github",
        "url": "https://github.com/acme/shop/actions/runs/777",
        "triggered_by": "octocat",
        "name": "release / deploy",
    }
    assert run.request["commit"] == "f00d"
    preprod.request(api, *FAST, **{**github, "GITHUB_RUN_ATTEMPT": "2"})
    assert len(api.runs) == 2, "a re-run of the job asks again"


def test_outside_ci_the_random_key_is_printed_for_a_retry(api: FakeApi, preprod: Preprod) -> None:
    first = preprod.request(api, *FAST)
    [key] = [w for w in first.stderr.split() if w.startswith("cli-")][:1]
    again = preprod.request(api, "--idempotency-key", key, *FAST)
    assert again.code == 0 and len(api.runs) == 1
    assert api.posts()[0].body["source"]["kind"] == "cli"


def test_its_own_timeout_exits_124_and_the_run_goes_on(api: FakeApi, preprod: Preprod) -> None:
    api.decide_after = None
    done = preprod.request(api, "--wait", "--timeout", "2s", "--json", *LONG_POLLS)
    assert done.code == 124, done.stderr
    assert "still pending and goes on" in done.stderr and "`preprod wait 1`" in done.stderr
    verdict = done.json()
    assert (verdict["id"], verdict["decision"], verdict["exit"]) == (1, "pending", 124)
    assert verdict["error"]["code"] == "timeout"
    assert 1.5 < done.seconds < 10
    assert api.runs[1].decision == "pending"


def test_help_states_the_exit_codes(preprod: Preprod) -> None:
    for command in ("request", "wait"):
        done = preprod(command, "--help", env=environ(None, token=None))
        assert done.code == 0
        for code in ("0 ", "1 ", "2 ", "3 ", "4 ", "5 ", "124 "):
            assert f"\n  {code}" in done.stdout, (command, code)
