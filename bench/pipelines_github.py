"""The GitHub half of bench/pipelines.py: a burst of ``deployment_protection_rule``
deliveries sent at once by the GitHub stand-in (distinct workflow runs and tags, so
distinct jobs and versions), how fast each was answered (GitHub gives up after 10 s),
and, once the clicker decided their runs, how many decisions GitHub accepted per job
(exactly one is right; none is lost, two are doubled, another state is wrong)."""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass, field

import httpx

from bench.pipelines_figures import figure_line, pct
from bench.pipelines_serve import REPOSITORY, github_environment
from github_standin import GitHubStandIn, WaitingJob
from github_standin.hooks import Delivery

GOAL_ANSWER = 10.0
"""Seconds within which GitHub wants a webhook's 2xx."""
FIRST_RUN = 20000
"""Workflow run id of the burst's first job."""
STATES = {"go": "approved", "no-go": "rejected"}


@dataclass
class Burst:
    size: int
    jobs: list[WaitingJob] = field(default_factory=list)
    deliveries: list[Delivery] = field(default_factory=list)
    runs: dict[int, int] = field(default_factory=dict)
    """Workflow run id -> the preprod run its delivery started or found."""
    accepted: dict[int, list[str]] = field(default_factory=dict)
    """Workflow run id -> the decisions GitHub accepted for its job (204), in order."""
    timed_out: bool = False
    redelivered: int = 0
    """Redeliveries the bot's reconciler asked for (a delivery that reached the bot needs
    none: each one is a wasted request, or a lost delivery found)."""

    def answered_2xx(self) -> list[Delivery]:
        return [d for d in self.deliveries if 200 <= d.status_code < 300]

    def verdicts(self, intended: dict[int, str]) -> Counter[str]:
        """once / lost / doubled / wrong, per job, against the clicks' intent."""
        tally: Counter[str] = Counter()
        for job in self.jobs:
            got = self.accepted.get(job.run_id, [])
            want = STATES.get(intended.get(self.runs.get(job.run_id, -1), ""), "?")
            if not got:
                tally["lost"] += 1
            elif len(got) > 1:
                tally["doubled"] += 1
            elif got != [want]:
                tally["wrong"] += 1
            else:
                tally["once"] += 1
        return tally

    def lines(self, intended: dict[int, str]) -> list[str]:
        if not self.size:
            return []
        times = sorted(d.duration for d in self.deliveries if not d.dropped)
        ok = self.answered_2xx()
        met = len(ok) == self.size and bool(times) and times[-1] < GOAL_ANSWER
        tally = self.verdicts(intended)
        states = Counter(s for got in self.accepted.values() for s in got)
        codes = dict(Counter(d.status_code for d in self.deliveries))
        return [
            f"github webhooks     {self.size} deployment_protection_rule deliveries at once: "
            f"{len(ok)} answered 2xx (codes {codes}), "
            f"{len(set(self.runs.values()))} runs",
            figure_line("webhook -> 2xx", times),
            f"goal all 2xx < {GOAL_ANSWER:g} s  {'met' if met else 'NOT met'}"
            + (f" (p99 {pct(times, 99):.2f} s)" if times else ""),
            f"decided at GitHub   {tally['once']} exactly once "
            f"({states['approved']} approved, {states['rejected']} rejected); "
            f"lost {tally['lost']}, doubled {tally['doubled']}, wrong {tally['wrong']}"
            + (" (TIMED OUT)" if self.timed_out else ""),
            f"redelivered         {self.redelivered} (asked by the bot's reconciler)",
        ]


def add_jobs(
    github: GitHubStandIn, size: int, environments: int, first: int = 0
) -> list[WaitingJob]:
    """``size`` waiting jobs, each its tag, spread over the mapped GitHub environments
    from the ``first``-th on (after the pipelines' runs)."""
    owner, repo = REPOSITORY
    return [
        github.add_job(
            owner,
            repo,
            FIRST_RUN + n,
            github_environment((first + n) % environments),
            ref=f"refs/tags/v3.0.{n}",
        )
        for n in range(size)
    ]


async def send(github: GitHubStandIn, burst: Burst) -> None:
    """Every job's delivery at once (a client with a connection for each, as GitHub's
    senders do not queue behind one another); which run each started."""
    limits = httpx.Limits(max_connections=burst.size + 10, max_keepalive_connections=0)
    async with httpx.AsyncClient(limits=limits) as client:
        burst.deliveries = list(
            await asyncio.gather(
                *(
                    github.hooks.deliver(
                        client, "deployment_protection_rule", github.requested_payload(job)
                    )
                    for job in burst.jobs
                )
            )
        )
    for job, delivery in zip(burst.jobs, burst.deliveries, strict=True):
        try:
            run = httpx.Response(200, text=delivery.response_body).json().get("run")
        except ValueError:
            run = None  # no answer within GitHub's 10 s: its run is not known here
        if isinstance(run, int):
            burst.runs[job.run_id] = run


def read_accepted(github: GitHubStandIn, burst: Burst) -> None:
    """The decisions GitHub accepted (204 to a review with a state), per workflow run."""
    burst.accepted = {}
    burst.redelivered = sum(d.redelivery for d in github.hooks.deliveries)
    for call in github.calls_to("review"):
        if call.status == 204 and isinstance(call.body, dict) and "state" in call.body:
            run = int(call.path.split("/runs/")[1].split("/")[0])
            burst.accepted.setdefault(run, []).append(str(call.body["state"]))


async def until_decided(github: GitHubStandIn, burst: Burst, settle: float = 2.0) -> None:
    """Until GitHub took a decision for every job, then ``settle`` seconds more (a
    doubled answer would come in that time: the reconciler and retries)."""
    while any(job.state == "waiting" for job in burst.jobs):
        await asyncio.sleep(0.2)
    await asyncio.sleep(settle)
    read_accepted(github, burst)
