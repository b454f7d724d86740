"""The scripted clicker of bench/pipelines.py: it decides every run, the pipelines' and
GitHub's, through the Slack stand-in's signed clicks as each sign-off panel shows its
buttons (Approve, or Reject with the modal's reason for every ``--reject-every``-th run
id), and clicks again where a person would. Split from pipelines.py (the pipelines and
the whole run stay there)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import httpx

from bench.pipelines_figures import Figures, Options, cpu_seconds
from bench.pipelines_serve import Serve

UNDECIDED_AFTER = 30.0
"""Seconds after an acknowledged click before the clicker asks whether its run is still
pending (a click answered "could not record your approval" is acknowledged too)."""


class Clicker:
    """Clicks on ``serve``'s panels, recording into ``figures``; ``cli_pids`` names the
    CLI pipelines still running (their CPU before the first click is measured)."""

    def __init__(
        self, options: Options, serve: Serve, figures: Figures, cli_pids: Callable[[], list[int]]
    ) -> None:
        self.o = options
        self.serve = serve
        self.figures = figures
        self.cli_pids = cli_pids

    def intent(self, run_id: int) -> str:
        every = self.o.reject_every
        return "no-go" if every > 0 and run_id % every == 0 else "go"

    async def clicker(self, http: httpx.AsyncClient) -> None:
        """Decide every run, the pipelines' and GitHub's, as soon as its panel shows its
        buttons (until cancelled); a click that was not acknowledged is made again 5 s
        later if the panel still offers it, and so is one acknowledged with an apology
        (the database did not answer in time) whose run is still pending after
        :data:`UNDECIDED_AFTER` (a person would click again)."""
        f = self.figures
        retry_at: dict[int, float] = {}
        first: dict[int, float] = {}
        acked: dict[int, float] = {}
        while True:
            await self.click_again(http, acked, retry_at)
            for run_id, (channel, panel) in sorted(self.serve.panels().items()):
                if run_id in f.intended:
                    continue
                if not f.clicked:  # what the CLI processes used before any click
                    f.cli_cpu_before = sum(map(cpu_seconds, self.cli_pids()))
                if retry_at.get(run_id, 0.0) > time.monotonic():
                    continue
                f.intended[run_id] = intent = self.intent(run_id)
                try:
                    clicked, ack, problem = await self.serve.decide(channel, panel, intent)
                except httpx.HTTPError as exc:  # e.g. the stand-in's 10 s for the bot's ack
                    clicked, ack, problem = 0.0, 0.0, f"the click failed ({exc!r})"
                if clicked:  # lags count from the first attempt (it may have decided)
                    first.setdefault(run_id, clicked)
                if problem:  # not acknowledged (Slack would show an error): click again
                    f.problems.append(f"run {run_id}: {problem}; clicked again")
                    f.reclicks += 1
                    del f.intended[run_id]
                    retry_at[run_id] = time.monotonic() + 5.0
                    continue
                f.clicked[run_id] = first.get(run_id, clicked)
                f.acks.append(ack)
                acked[run_id] = time.monotonic()
            await asyncio.sleep(0.3)  # the scan reads every channel: not too often

    async def click_again(
        self, http: httpx.AsyncClient, acked: dict[int, float], retry_at: dict[int, float]
    ) -> None:
        """Clicks acknowledged long ago whose run is still pending: clicked again."""
        f = self.figures
        now = time.monotonic()
        for run_id, at in list(acked.items()):
            if now - at < UNDECIDED_AFTER:
                continue
            del acked[run_id]
            try:
                view = (await http.get(f"/api/v1/runs/{run_id}")).json()
            except (httpx.HTTPError, ValueError):
                continue
            if view.get("decision") == "pending":
                f.problems.append(f"run {run_id}: acknowledged, still pending; clicked again")
                f.reclicks += 1
                f.intended.pop(run_id, None)
                f.clicked.pop(run_id, None)
                retry_at[run_id] = now

    def clicker_ended(self, task: asyncio.Task[None]) -> None:
        """The clicker ends only when cancelled; an error of its own is a problem to show
        (else the pipelines would wait for clicks that never come, silently)."""
        if not task.cancelled() and task.exception() is not None:
            self.figures.problems.append(f"the clicker stopped: {task.exception()!r}")
