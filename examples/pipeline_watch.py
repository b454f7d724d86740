"""What examples/pipeline_demo.py prints as it happens: the run followed through the
gate's pipeline API and the job on the GitHub stand-in, each event once. Split from
pipeline_demo.py (the set-up and the clicking stay there)."""

from __future__ import annotations

import threading
import time
from typing import Any

import httpx

from github_standin import WaitingJob
from slack_standin.__main__ import DEMO_USERS

NAMES = dict(pair.split("=", 1) for pair in DEMO_USERS)
"""Slack user id -> demo name, for the sign-off lines."""


class Watch:
    """Prints what happens, once each: the run through the gate's API (thread, checks,
    who is awaited, sign-offs, decision) and the job on GitHub (comments, the answer)."""

    def __init__(
        self, api: str, token: str, run_id: int, job: WaitingJob, labels: dict[str, str]
    ) -> None:
        self.http = httpx.Client(
            base_url=api, headers={"Authorization": f"Bearer {token}"}, timeout=10
        )
        self.run_id, self.job, self.labels = run_id, job, labels
        self.started = time.monotonic()
        self.seen: set[str] = set()
        self.decided_at: float | None = None
        self.answered_at: float | None = None
        self.deciding_click: float | None = None
        self.stop = threading.Event()

    def say(self, key: str, line: str) -> None:
        if key not in self.seen:
            self.seen.add(key)
            since = time.monotonic() - self.started
            print(f"[#{self.run_id} {since:6.1f}s] {line}", flush=True)

    def poll(self) -> None:
        answer = self.http.get(f"/api/v1/runs/{self.run_id}")
        if answer.status_code == 200:
            self.run(answer.json())
        for i, comment in enumerate(self.job.comments):
            first = comment.text.splitlines()[0] if comment.text else ""
            self.say(f"comment:{i}", f"GitHub: preprod commented on the job: {first}")
        if self.job.state != "waiting" and self.answered_at is None:
            self.answered_at = time.monotonic()
            self.say("answer", self.answer_line())

    def run(self, run: dict[str, Any]) -> None:
        if run["links"].get("thread"):
            self.say("thread", "Slack: the run's thread opened in #releases")
        checks = run["checks"]
        for item in checks["items"]:
            if item["status"] not in ("pending", "running"):
                self.say(f"check:{item['id']}", f"preprod: check {item['id']} {item['status']}")
        if checks["total"] and checks["done"] == checks["total"]:
            passed = checks["total"] - checks["failed"]
            self.say("checks", f"preprod: checks done: {passed} passed, {checks['failed']} failed")
            if run["awaiting"]:
                labels = ", ".join(a["label"] for a in run["awaiting"])
                self.say(f"awaiting:{labels}", f"preprod: awaiting sign-off from {labels}")
        for s in run["signoffs"]:
            who = f"{NAMES.get(s['user'], s['user'])} ({s['user']})"
            role = self.labels.get(s["role"], s["role"])
            if s["vote"] == "approve":
                self.say(f"signed:{s['role']}", f"Slack: signed off for {role} by {who}")
            else:
                why = f": {s['reason']}" if s["reason"] else ""
                self.say(f"rejected:{s['role']}", f"Slack: rejected for {role} by {who}{why}")
        if run["decision"] != "pending":
            if self.decided_at is None:
                self.decided_at = time.monotonic()
            self.say("decision", f"preprod: the gate decided {run['decision'].upper()}")

    def answer_line(self) -> str:
        """The answer GitHub recorded, how soon, and its comment (without the footer of
        links and checkpoint)."""
        assert self.answered_at is not None
        since, what = self.decided_at, "the decision was seen"
        if self.deciding_click is not None:
            since, what = self.deciding_click, "the deciding click"
        after = f", {self.answered_at - since:.1f} s after {what}" if since is not None else ""
        comment = (self.job.decision_comment or "").splitlines()[:-1]
        return f"GitHub: the job is {self.job.state.upper()}{after}; preprod's comment:" + "".join(
            f"\n           {line}" for line in comment
        )

    def loop(self) -> None:
        """Poll five times a second until ``stop`` is set."""
        with self.http:
            while not self.stop.is_set():
                try:
                    self.poll()
                except httpx.HTTPError as exc:
                    self.say(f"error:{type(exc).__name__}", f"(the gate did not answer: {exc})")
                self.stop.wait(0.2)
