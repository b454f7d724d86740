"""Jobs waiting on the App's protection rule, and GitHub's rules for answering them.

``review`` is pure: it takes a job and a request body and says what GitHub would answer
(204, or the 422 message) and, on success, changes the job. No HTTP here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

MAX_PROGRESS_COMMENTS = 10
"""Progress reports (calls without ``state``) per deployment."""
MAX_COMMENT_CHARS = 1024
"""Characters per comment. Documented for progress reports; the stand-in also applies it
to the comment sent with a decision (an assumption: GitHub does not say otherwise)."""
STATES = ("approved", "rejected")


@dataclass
class Comment:
    text: str
    at: datetime


@dataclass
class WaitingJob:
    """A workflow job waiting at ``environment`` of ``owner/repo`` run ``run_id``."""

    owner: str
    repo: str
    run_id: int
    environment: str
    installation_id: int
    sha: str = "6dcb09b5b57875f334f61aebed695e2e4193db5e"
    ref: str = "refs/heads/main"
    event: str = "push"
    state: str = "waiting"
    decision_comment: str | None = None
    decided_at: datetime | None = None
    comments: list[Comment] = field(default_factory=list)

    @property
    def key(self) -> tuple[str, str, int, str]:
        return job_key(self.owner, self.repo, self.run_id, self.environment)


def job_key(owner: str, repo: str, run_id: int, environment: str) -> tuple[str, str, int, str]:
    """Owner and repository names are case-insensitive on GitHub; environment names too."""
    return owner.lower(), repo.lower(), run_id, environment.lower()


@dataclass(frozen=True)
class Refusal:
    """A 422 as GitHub words it."""

    message: str


def check_body(body: Any) -> Refusal | None:
    """The request body's shape: ``environment_name``, ``state``?, ``comment``?."""
    if not isinstance(body, dict):
        return Refusal("Invalid request.\n\nBody must be a JSON object.")
    if not isinstance(body.get("environment_name"), str):
        return Refusal('Invalid request.\n\n"environment_name" wasn\'t supplied.')
    state, comment = body.get("state"), body.get("comment")
    if state is not None and state not in STATES:
        return Refusal(f"Invalid request.\n\nstate must be one of {', '.join(STATES)}.")
    if comment is not None and not isinstance(comment, str):
        return Refusal("Invalid request.\n\ncomment must be a string.")
    if state is None and not comment:
        return Refusal('Invalid request.\n\n"comment" wasn\'t supplied.')
    return None


def review(job: WaitingJob, body: dict[str, Any], now: datetime) -> Refusal | None:
    """Apply a checked body to ``job``: a decision, or a progress comment (no ``state``)."""
    state, comment = body.get("state"), body.get("comment")
    if comment is not None and len(comment) > MAX_COMMENT_CHARS:
        return Refusal(f"Comment is too long (maximum is {MAX_COMMENT_CHARS} characters)")
    if job.state != "waiting":
        return Refusal(f"The deployment protection rule has already been {job.state}")
    if state is None:
        if len(job.comments) >= MAX_PROGRESS_COMMENTS:
            return Refusal(
                f"Maximum number of comments ({MAX_PROGRESS_COMMENTS}) reached for this deployment"
            )
        job.comments.append(Comment(str(comment), now))
        return None
    job.state, job.decision_comment, job.decided_at = str(state), comment, now
    return None
