"""What a run's thread says about the GitHub job it answers once its NO-GO is reopened:
GitHub keeps a decision it took (a rejected job has failed), so the new decision reaches
the pipeline only through a re-run of the job in GitHub. Pure: rows' values in, mrkdwn
out; the job's names are escaped (an environment name is any text GitHub allows)."""

from __future__ import annotations

from bot.slack.text import Mrkdwn, escape, one_line

WORDS = {"rejected": "failed (rejected)", "approved": "let through (approved)"}


def job_name(owner: str, repo: str, workflow_run: int, environment: str) -> Mrkdwn:
    """``acme/checkout`` run 501 at ``production``, escaped."""
    where = one_line(environment)[:100]
    return Mrkdwn(f"*{escape(owner)}/{escape(repo)}* run {workflow_run} at *{escape(where)}*")


def reopened_note(job: Mrkdwn, state: str | None) -> Mrkdwn:
    """Added to the re-run's line when GitHub already took the run's decision."""
    told = WORDS.get(state or "", "answered")
    return Mrkdwn(
        f" GitHub already {told} the job {job} on the NO-GO and keeps that: to have the new "
        "decision, re-run the job in GitHub; its new attempt waits on this run."
    )


def decided_again_note(job: Mrkdwn, state: str | None, outcome: str) -> Mrkdwn:
    """In the thread when a decision after a reopen has no GitHub job to go to."""
    told = WORDS.get(state or "", "answered")
    return Mrkdwn(
        f":information_source: GitHub is not told this {escape(outcome)}: it already {told} "
        f"the job {job} on the earlier decision and keeps that. Re-run the job in GitHub "
        "and its new attempt gets this decision."
    )
