"""`preprod socket` serves the web app too: the pages, ``/healthz``, ``/readyz``,
``/metrics`` and ``/api`` on ``--host``/``--port`` (report links in Slack lead somewhere and
the image's health check passes), while Slack's events come over the socket, so
``POST /slack/events`` is not routed. One real process against the Slack stand-in (which
has no Socket Mode: the socket never connects, the web app answers regardless)."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import httpx

from examples.processes import wait_http
from tests.support.processes import bots, free_port, write_plan
from tests.support.target import RunningTarget

METRICS_TOKEN = "metrics-token-for-the-test"


async def test_socket_mode_serves_the_web_app_and_not_the_events_endpoint(
    healthy_target: RunningTarget, tmp_path: Path
) -> None:
    config = write_plan(tmp_path, healthy_target, duration="1s")
    async with bots(config, tmp_path, PREPROD_METRICS_TOKEN=METRICS_TOKEN) as group:
        port = free_port()
        env = {**group.env, "SLACK_APP_TOKEN": "xapp-test"}
        env.pop("SLACK_SIGNING_SECRET")  # Socket Mode needs none
        socket = group.spawn("socket", "--host", "127.0.0.1", "--port", str(port), env=env)
        url = f"http://127.0.0.1:{port}"
        wait_http(f"{url}/healthz", timeout=30, proc=socket.proc, log=socket.log)

        async with httpx.AsyncClient(base_url=url, timeout=10) as client:
            health = await client.get("/healthz")
            assert health.status_code == 200 and health.json()["status"] == "ok", health.text

            ready = await client.get("/readyz")
            assert ready.status_code == 200, ready.text
            assert ready.json()["status"] == "ready", ready.text

            refused = await client.get("/metrics")
            assert refused.status_code == 401, refused.text
            metrics = await client.get(
                "/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}
            )
            assert metrics.status_code == 200, metrics.text
            assert "preprod_active_runs" in metrics.text, metrics.text[:500]

            runs = await client.get("/runs")  # the pages: sent to sign in first
            assert runs.status_code == 302, runs.text
            assert runs.headers["location"] == "/auth/login?next=%2Fruns", runs.headers
            signin = await client.get(runs.headers["location"])  # not configured here
            assert signin.status_code == 503, signin.text
            assert "PREPROD_SLACK_CLIENT_ID" in signin.text, signin.text

            openapi = await client.get("/api/v1/openapi.json")
            assert openapi.status_code == 200, openapi.text

            api = await client.get("/api/v1/runs/1")
            assert api.status_code == 401, api.text

            events = await client.post("/slack/events", content=b"{}")
            assert events.status_code == 404, events.text

        stopped_at = time.monotonic()
        group.signal(socket, signal.SIGTERM)
        socket.wait(timeout=15)  # uvicorn re-raises SIGTERM once it has stopped cleanly
        assert time.monotonic() - stopped_at < 10
        out = socket.output()  # (slack_bolt logs the stand-in's refusal of the socket)
        assert "abandoned by disconnect()" in out, out  # the socket closed before the bot
        assert out.count("Scheduler started") == 1, out  # the bot started once
        assert out.count("Scheduler has been shut down") == 1, out  # and closed once
        assert out.count("Application shutdown complete") == 1, out
        assert "Finished server process" in out, out
