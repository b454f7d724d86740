"""``preprod request --wait`` against a real ``preprod serve`` process (SQLite, the Slack
stand-in, real HTTP), every exit code a pipeline step acts on: 0 on GO and 1 on NO-GO
(clicked in the stand-in), 3 when a newer version supersedes the run, 4 with a revoked
or missing token, 124 on its own ``--timeout`` (the run goes on), and a serve stopped and started
again on the same port and database while the CLI waits. One serve for the module; the
CLI runs in this process (``tests/support/in_process.py``) except where the restart needs
a real pipeline step. (tests/test_request_cli.py covers every exit path against a
stand-in of the API; this holds the two sides to the same contract.)"""

from __future__ import annotations

import asyncio
import json
import re
import signal
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import pytest_asyncio
from sqlmodel import Session, select

from bot.slack.actions import APPROVE, REASON_BLOCK, REASON_INPUT, REJECT, REJECT_MODAL
from bot.store.models import Run, SlackThread
from bot.store.runs import RunStore
from bot.store.tokens import Tokens
from examples.processes import wait_http
from slack_standin import Message
from tests.support.processes import Bot, Bots, bots, free_port, preprod_command, until
from tests.support.target import RunningTarget
from tests.support.workspace import CHANNEL
from tests.test_api import config_for
from tests.test_request_cli import Done, Preprod, environ

pytestmark = pytest.mark.asyncio(loop_scope="module")

SRE = "U0SRE1"
FAST = ("--json", "--poll-wait", "2", "--retry-for", "60s")


@dataclass
class Live:
    """The module's serve: its process group, port, a store on its database and a token."""

    group: Bots
    port: int
    store: RunStore
    token: str = ""
    serve: Bot | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        """``preprod serve`` on the module's port (again, after a stop), once it answers."""
        serve = self.serve = self.group.spawn("serve", "--port", str(self.port))
        serve.url = self.url
        wait_http(f"{self.url}/healthz", timeout=60, proc=serve.proc, log=serve.log)
        self.group.standin.bot_url = serve.events_url

    def run_id(self, version: str) -> int | None:
        with Session(self.store.engine) as session:
            return session.exec(select(Run.id).where(Run.version == version)).first()

    def panel(self, run_id: int) -> Message | None:
        with Session(self.store.engine) as session:
            thread = session.get(SlackThread, run_id)
        if thread is None or thread.gate_ts is None:
            return None
        messages = self.group.standin.thread(CHANNEL, thread.parent_ts)
        return next((m for m in messages if m.ts == thread.gate_ts), None)

    async def signable(self, version: str) -> tuple[int, Message]:
        """The run of ``version`` once its checks are done and its sign-off panel is up."""
        await until(lambda: self.run_id(version) is not None, 30, f"{version} never requested")
        run_id = self.run_id(version)
        assert run_id is not None
        await until(lambda: self.panel(run_id) is not None, 30, f"run #{run_id}: no panel")
        panel = self.panel(run_id)
        assert panel is not None
        return run_id, panel

    def client(self) -> httpx.AsyncClient:
        headers = {"authorization": f"Bearer {self.token}"}
        return httpx.AsyncClient(base_url=self.url, headers=headers, timeout=10)

    async def view(self, run_id: int) -> dict[str, Any]:
        async with self.client() as http:
            response = await http.get(f"/api/v1/runs/{run_id}")
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def live(
    healthy_target: RunningTarget, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Live]:
    tmp_path = tmp_path_factory.mktemp("request-live")
    async with bots(config_for(tmp_path, healthy_target), tmp_path) as group:
        found = Live(group, free_port(), RunStore(group.database.url))
        await asyncio.to_thread(found.start)
        found.token = await Tokens(found.store).create("ci", "checkout-*", "*", "test")
        try:
            yield found
        finally:
            found.store.engine.dispose()


async def in_process(preprod: Preprod, live: Live, *args: str) -> Done:
    """``preprod <args> --json ...`` in this process (a thread: the stand-in runs here)."""
    env = environ(live.url, live.token)
    return await asyncio.to_thread(preprod, *args, *FAST, env=env)


def request(*args: str) -> tuple[str, ...]:
    return ("request", "checkout-api", *args, "--wait")


@pytest.fixture
def preprod(capsys: pytest.CaptureFixture[str]) -> Preprod:
    return Preprod(capsys)


async def test_a_pipeline_step_waits_for_the_click_and_exits_0_on_go(
    live: Live, preprod: Preprod
) -> None:
    step = asyncio.create_task(
        in_process(preprod, live, *request("2.14.0", "staging", "--timeout", "60s"))
    )
    run_id, panel = await live.signable("2.14.0")
    await live.group.standin.click(SRE, panel.ts, CHANNEL, APPROVE, block_id="signoff:sre")
    done = await asyncio.wait_for(step, 60)
    assert done.code == 0, done.stderr
    verdict = done.json()
    assert (verdict["id"], verdict["decision"], verdict["exit"]) == (run_id, "go", 0)
    assert verdict["status"] == "finished" and verdict["awaiting"] == []
    assert [(s["role"], s["user"], s["vote"]) for s in verdict["signoffs"]] == [
        ("sre", SRE, "approve")
    ]
    assert verdict["source"]["kind"] == "cli" and "error" not in verdict
    # `preprod wait` on the decided run answers at once with the same verdict
    again = await in_process(preprod, live, "wait", str(run_id))
    assert again.code == 0 and again.json()["decision"] == "go", again.stderr


async def test_a_rejection_with_a_reason_exits_1_with_no_go(live: Live, preprod: Preprod) -> None:
    step = asyncio.create_task(
        in_process(preprod, live, *request("2.15.0", "prod", "--timeout", "60s"))
    )
    run_id, panel = await live.signable("2.15.0")
    await live.group.standin.click(SRE, panel.ts, CHANNEL, REJECT, block_id="signoff:sre")
    await until(lambda: bool(live.group.standin.modals(SRE)), 30, "no reject modal")
    reason = "canary error rate 4%"
    await live.group.standin.submit_view(SRE, REJECT_MODAL, {REASON_BLOCK: {REASON_INPUT: reason}})
    done = await asyncio.wait_for(step, 60)
    assert done.code == 1, done.stderr
    verdict = done.json()
    assert (verdict["id"], verdict["decision"], verdict["exit"]) == (run_id, "no-go", 1)
    assert [(s["user"], s["vote"], s["reason"]) for s in verdict["signoffs"]] == [
        (SRE, "reject", reason)
    ]
    assert any(reason in r for r in verdict["reasons"]), verdict["reasons"]
    assert "error" not in verdict


async def test_a_newer_version_supersedes_the_waiting_run_exit_3(
    live: Live, preprod: Preprod
) -> None:
    step = asyncio.create_task(
        in_process(preprod, live, *request("2.16.0", "staging", "--timeout", "60s"))
    )
    await until(lambda: live.run_id("2.16.0") is not None, 30, "2.16.0 never requested")
    first = live.run_id("2.16.0")
    await asyncio.sleep(0.5)  # the step's poll, sent once its request is answered, is held
    # another pipeline asks for a newer version (over HTTP: one in-process CLI at a time)
    async with live.client() as http:
        body = {"service": "checkout-api", "version": "2.16.1", "environment": "staging",
                "source": {"kind": "github"}}  # fmt: skip
        newer = await http.post("/api/v1/requests", json=body, headers={"Idempotency-Key": "n"})
    assert newer.status_code == 201, newer.text
    second = newer.json()["id"]
    done = await asyncio.wait_for(step, 30)
    assert done.code == 3, done.stderr
    verdict = done.json()
    assert (verdict["id"], verdict["decision"], verdict["exit"]) == (first, "superseded", 3)
    assert verdict["superseded_by"] == second and "error" not in verdict
    assert (await live.view(second))["decision"] == "pending"


async def test_its_own_timeout_exits_124_and_the_run_goes_on(live: Live, preprod: Preprod) -> None:
    done = await in_process(preprod, live, *request("2.17.0", "prod", "--timeout", "2s"))
    assert done.code == 124, done.stderr
    verdict = done.json()
    run_id = live.run_id("2.17.0")
    assert (verdict["id"], verdict["decision"], verdict["exit"]) == (run_id, "pending", 124)
    assert verdict["error"]["code"] == "timeout"
    assert f"`preprod wait {run_id}` resumes waiting" in verdict["error"]["message"]
    assert done.seconds < 10
    assert (await live.view(verdict["id"]))["decision"] == "pending"  # the run goes on


async def test_a_revoked_or_missing_token_exits_4(live: Live, preprod: Preprod) -> None:
    """However long the step would wait; and ``error.code`` is the API's word whether the
    gate refused the token or the CLI found none (it said ``unauthorised`` then)."""
    token = await Tokens(live.store).create("revoked", "checkout-*", "*", "test")
    await Tokens(live.store).revoke("revoked", "test")
    for env in (environ(live.url, token), environ(live.url, None)):
        done = await asyncio.to_thread(preprod, "wait", "1", "--timeout", "60s", *FAST, env=env)
        assert done.code == 4, done.stderr
        verdict = done.json()
        assert (verdict["id"], verdict["exit"]) == (1, 4), verdict
        assert verdict["error"]["code"] == "unauthorized", verdict


async def test_a_serve_restarted_during_the_wait_does_not_end_it(live: Live) -> None:
    """With the default --poll-wait (25 s) the step is in a held poll when the serve is
    stopped: its graceful stop cut the poll short with a 500, which ended the wait
    (exit 5); it answers 503 with Retry-After now, and the step backs off until the
    restarted serve answers."""
    step = await asyncio.create_subprocess_exec(
        *preprod_command(*request("2.18.0", "prod", "--timeout", "90s"), "--json"),
        env=environ(live.url, live.token),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert step.stderr is not None and step.stdout is not None
    lines: list[str] = []

    async def read_stderr() -> None:
        assert step.stderr is not None
        async for line in step.stderr:
            lines.append(line.decode())

    reader = asyncio.create_task(read_stderr())
    try:
        await restarted_during_the_wait(live, step, lines)
    finally:
        if step.returncode is None:
            step.kill()
            await step.wait()
        await asyncio.wait_for(reader, 10)


async def restarted_during_the_wait(
    live: Live, step: asyncio.subprocess.Process, lines: list[str]
) -> None:
    assert step.stdout is not None
    run_id, _ = await live.signable("2.18.0")
    await until(lambda: any("awaiting SRE" in line for line in lines), 60, "".join(lines))
    await asyncio.sleep(1)  # its next poll, sent at once, is held by the serve
    assert live.serve is not None
    # SIGTERM, in a thread: the stand-in, on this loop, takes the serve's last posts
    assert await asyncio.to_thread(live.group.stop, live.serve) in (0, -signal.SIGTERM)
    await until(lambda: any("lost the gate" in line for line in lines), 60, "".join(lines))
    await asyncio.to_thread(live.start)  # the same port and database
    panel = live.panel(run_id)
    assert panel is not None
    await live.group.standin.click(SRE, panel.ts, CHANNEL, APPROVE, block_id="signoff:sre")
    stdout = await asyncio.wait_for(step.stdout.read(), 90)
    assert await asyncio.wait_for(step.wait(), 10) == 0, "".join(lines)
    assert stdout.count(b"\n") == 1, stdout  # one JSON verdict, nothing else
    verdict = json.loads(stdout)
    assert (verdict["id"], verdict["decision"], verdict["exit"]) == (run_id, "go", 0)
    text = "".join(lines)
    lost, regained = text.find("lost the gate: HTTP 503"), text.find("regained the gate")
    assert 0 <= lost < regained, text
    delays = [float(d) for d in re.findall(r"retrying in (\d+\.\d)s", text)]
    assert delays[0] == 1.0, text  # the 503's Retry-After
    assert len(delays) >= 2 and delays[1:] == sorted(delays[1:]), text  # then backing off
    assert f"({len(delays)} retries)" in text, text
