"""A small real HTTP server that follows the gate's pipeline API contract (``/api/v1``,
issue 22) closely enough to test ``preprod request`` / ``preprod wait`` before the real
server is merged; the same tests are later pointed at the real one. 127.0.0.1 only.

What a test can make it do: decide a run after N polls (or never), hold long polls for
``?wait=``, answer 503/429 or drop the connection for the next requests, create a run and
then drop the answer (a retry must reuse the idempotency key), stop and start again on
the same port with its runs kept (a restart), refuse unknown tokens (401) and environments
out of a token's scope (403 on request, 404 on read), and record every request."""

from __future__ import annotations

import json
import socket
import threading
from contextlib import suppress
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.support.processes import free_port

CHECKS = ("smoke", "tls", "headers")
FINAL = ("go", "no-go", "expired", "cancelled", "superseded")


@dataclass
class Recorded:
    """One request as the server saw it."""

    method: str
    path: str
    headers: dict[str, str]
    body: Any
    query: str = ""


@dataclass
class FakeRun:
    id: int
    request: dict[str, Any]
    polls: int = 0
    decision: str = "pending"
    superseded_by: int | None = None


@dataclass
class FakeApi:
    """The server and its state (kept across :meth:`stop` / :meth:`start`).

    ``tokens`` maps each valid token to the environments it may use (None: all).
    ``decide_after``: the poll (GET) that decides a run as ``decision``; None: never.
    ``faults``: what the next requests get instead of an answer: ``"503"``, ``"502"``,
    ``"429"`` (with ``Retry-After: 1``), ``"drop"`` (the connection closed unanswered).
    ``drop_after_create``: that many POSTs do their work, then drop the answer."""

    tokens: dict[str, tuple[str, ...] | None] = field(default_factory=lambda: {"t0k": None})
    decide_after: int | None = 2
    decision: str = "go"
    reasons: tuple[str, ...] = ()
    faults: list[str] = field(default_factory=list)
    drop_after_create: int = 0
    port: int = field(default_factory=free_port)
    runs: dict[int, FakeRun] = field(default_factory=dict)
    keys: dict[tuple[str, str], int] = field(default_factory=dict)
    requests: list[Recorded] = field(default_factory=list)
    changed: threading.Condition = field(default_factory=threading.Condition)
    _server: ThreadingHTTPServer | None = None
    _open: set[socket.socket] = field(default_factory=set)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        """Listen on :attr:`port` (the same one after a restart)."""
        api = self

        class Handler(_Handler):
            fake = api

        server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        server.daemon_threads = True
        self._server = server
        threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()

    def stop(self) -> None:
        """Stop listening and cut every open connection, held long polls included, as a
        restarting server does."""
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        with self.changed:
            for connection in list(self._open):
                with suppress(OSError):
                    connection.shutdown(socket.SHUT_RDWR)
            self.changed.notify_all()

    def decide(self, run_id: int, decision: str, superseded_by: int | None = None) -> None:
        """Decide a run now (wakes its long polls)."""
        with self.changed:
            self.runs[run_id].decision = decision
            self.runs[run_id].superseded_by = superseded_by
            self.changed.notify_all()

    def posts(self) -> list[Recorded]:
        return [r for r in self.requests if r.method == "POST"]

    def gets(self) -> list[Recorded]:
        return [r for r in self.requests if r.method == "GET"]

    def view(self, run: FakeRun) -> dict[str, Any]:
        """The run as the contract's RunView."""
        done = min(len(CHECKS), run.polls + 1)
        decided = run.decision != "pending"
        request = run.request
        return {
            "id": run.id,
            "service": request["service"],
            "version": request["version"],
            "environment": request["environment"],
            "plan": request.get("plan") or "default",
            "status": "finished" if done == len(CHECKS) else "running",
            "decision": run.decision,
            "reasons": list(self.reasons) if decided and run.decision != "go" else [],
            "checks": {
                "total": len(CHECKS),
                "done": done,
                "failed": 0,
                "items": [
                    {"id": c, "status": "passed", "critical": True, "summary": "ok"}
                    for c in CHECKS[:done]
                ],
            },
            "awaiting": [] if decided else [{"role": "sre", "label": "SRE"}],
            "signoffs": [],
            "links": {
                "self": f"/api/v1/runs/{run.id}",
                "report": f"{self.url}/runs/{run.id}",
                "thread": f"https://slack.example/archives/C0/p{run.id}",
            },
            "audit": None,
            "superseded_by": run.superseded_by,
            "source": request.get("source"),
            "commit": request.get("commit"),
        }


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    fake: FakeApi

    def log_message(self, format: str, *args: object) -> None:
        pass

    def setup(self) -> None:
        super().setup()
        with self.fake.changed:
            self.fake._open.add(self.connection)

    def finish(self) -> None:
        with self.fake.changed:
            self.fake._open.discard(self.connection)
        with suppress(OSError):
            super().finish()

    def do_POST(self) -> None:
        self._serve()

    def do_GET(self) -> None:
        self._serve()

    def _serve(self) -> None:
        fake = self.fake
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        url = urlsplit(self.path)
        with fake.changed:
            fake.requests.append(
                Recorded(self.command, url.path, dict(self.headers), body, url.query)
            )
            fault = fake.faults.pop(0) if fake.faults else ""
        try:
            if fault == "drop":
                self._drop()
            elif fault:
                self._answer(int(fault), {"error": {"code": "unavailable", "message": "later"}})
            else:
                self._route(url.path, parse_qs(url.query), body)
        except OSError:
            pass  # the connection was cut (a restart)

    def _drop(self) -> None:
        self.close_connection = True
        self.connection.shutdown(socket.SHUT_RDWR)

    def _answer(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        if status == 429:
            self.send_header("Retry-After", "1")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _error(self, status: int, code: str, message: str) -> None:
        self._answer(status, {"error": {"code": code, "message": message}})

    def _route(self, path: str, query: dict[str, list[str]], body: Any) -> None:
        fake = self.fake
        auth = self.headers.get("Authorization", "")
        token = auth.removeprefix("Bearer ") if auth.startswith("Bearer ") else ""
        if token not in fake.tokens:
            self._error(401, "unauthorized", "missing, unknown or revoked token")
            return
        scope = fake.tokens[token]
        if self.command == "POST" and path == "/api/v1/requests":
            self._request(token, scope, body)
        elif self.command == "GET" and path.startswith("/api/v1/runs/"):
            self._read(path.rsplit("/", 1)[1], scope, query)
        else:
            self._error(404, "not_found", "no such endpoint")

    def _request(self, token: str, scope: tuple[str, ...] | None, body: Any) -> None:
        fake = self.fake
        key = self.headers.get("Idempotency-Key", "")
        if not key or len(key) > 200:
            self._error(400, "bad_request", "Idempotency-Key is required (at most 200 characters)")
            return
        if not isinstance(body, dict) or not all(
            isinstance(body.get(f), str) and body[f] for f in ("service", "version", "environment")
        ):
            self._error(422, "invalid", "service, version and environment are required")
            return
        if scope is not None and body["environment"] not in scope:
            self._error(403, "forbidden", f"this token may not request {body['environment']}")
            return
        with fake.changed:
            known = fake.keys.get((token, key))
            if known is None:
                run = FakeRun(id=len(fake.runs) + 1, request=body)
                fake.runs[run.id] = run
                fake.keys[(token, key)] = run.id
            else:
                run = fake.runs[known]
            view = fake.view(run)
            drop = fake.drop_after_create > 0
            fake.drop_after_create -= int(drop)
        if drop:
            self._drop()
            return
        status = 201 if known is None else 200
        self._answer(status, view, {"Location": f"/api/v1/runs/{run.id}"})

    def _read(
        self, number: str, scope: tuple[str, ...] | None, query: dict[str, list[str]]
    ) -> None:
        fake = self.fake
        run = fake.runs.get(int(number)) if number.isdigit() else None
        if run is None or (scope is not None and run.request["environment"] not in scope):
            self._error(404, "not_found", "no such run")
            return
        try:
            wait = float(query.get("wait", ["0"])[0])
        except ValueError:
            wait = -1
        if not 0 <= wait <= 60:
            self._error(400, "bad_request", "wait is 0 to 60 seconds")
            return
        server = fake._server
        with fake.changed:
            run.polls += 1
            due = fake.decide_after is not None and run.polls >= fake.decide_after
            if due and run.decision == "pending":
                run.decision = fake.decision
            before = run.decision
            if before == "pending":  # hold the answer until it is decided or the wait ends
                fake.changed.wait_for(
                    lambda: run.decision != before or fake._server is not server, timeout=wait
                )
            if fake._server is not server:  # stopped while holding: the answer is lost
                return
            view = fake.view(run)
        self._answer(200, view)
