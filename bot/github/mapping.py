"""From a ``deployment_protection_rule`` ``requested`` webhook to the run it asks for:
the waiting job (its target), the service, version, environment and plan the config
maps the repository's environment to, and where it came from. Pure: no I/O.

The version is the tag the workflow runs on (``refs/tags/v2.14.0`` → ``2.14.0``), else
the commit's short sha. The idempotency key is the workflow run and the environment:
a redelivery, or a second delivery for the same job, is the same run.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any

from bot.config.schema import Config, GitHubTarget
from bot.github.target import DeploymentTarget, TargetProblem
from bot.input_limits import VERSION

EVENT = "deployment_protection_rule"
ACTION = "requested"
SHORT_SHA = 7
MAX_KEY = 200
"""The ``apirequest.key`` column."""
_SHA = re.compile(r"[0-9a-f]{7,64}")


class PayloadProblem(ValueError):
    """A signed webhook whose payload does not name a waiting job (one line)."""


@dataclass(frozen=True)
class Requested:
    """A job waiting on the rule, as the webhook names it."""

    target: DeploymentTarget
    repository: str
    """``owner/name`` as the payload spells it."""
    sha: str | None
    ref: str | None
    sender: str | None
    run_url: str

    @property
    def key(self) -> str:
        """The idempotency key: the workflow run and the environment."""
        t = self.target
        return _bounded(f"github:{t.owner}/{t.repo}:{t.run_id}:{t.environment}".lower())

    def rerun_key(self, delivery: str) -> str:
        """The key of a new request for a job whose run was decided already (the job was
        re-run: same workflow run, a new delivery)."""
        return _bounded(f"{self.key}:{delivery}")


def _bounded(key: str) -> str:
    if len(key) <= MAX_KEY:
        return key
    return "github:sha256:" + hashlib.sha256(key.encode()).hexdigest()


@dataclass(frozen=True)
class RunAsked:
    """What ``Requested`` starts: the names a pipeline would send to the API."""

    service: str
    version: str
    environment: str
    plan: str | None
    commit: str | None
    source: dict[str, str]


def _text(payload: dict[str, Any], *path: str) -> str | None:
    value: Any = payload
    for part in path:
        value = value.get(part) if isinstance(value, dict) else None
    return value if isinstance(value, str) and value else None


def requested(payload: dict[str, Any]) -> Requested:
    """The waiting job of a ``requested`` payload (``PayloadProblem`` if it names none)."""
    environment = _text(payload, "environment")
    callback = _text(payload, "deployment_callback_url")
    installation = payload.get("installation")
    inst_id = installation.get("id") if isinstance(installation, dict) else None
    if environment is None:
        raise PayloadProblem("environment: expected the environment's name")
    if callback is None:
        raise PayloadProblem("deployment_callback_url: expected a URL")
    if not isinstance(inst_id, int) or isinstance(inst_id, bool):
        raise PayloadProblem("installation.id: expected the installation's id")
    try:
        target = DeploymentTarget.from_callback_url(callback, environment, inst_id)
    except TargetProblem as exc:
        raise PayloadProblem(str(exc)) from None
    repository = _text(payload, "repository", "full_name") or f"{target.owner}/{target.repo}"
    html = _text(payload, "repository", "html_url")
    if html is None or not html.startswith("https://") or any(c.isspace() for c in html):
        html = f"https://github.com/{target.owner}/{target.repo}"
    sha = _text(payload, "sha") or _text(payload, "deployment", "sha")
    ref = _text(payload, "ref") or _text(payload, "deployment", "ref")
    return Requested(
        target=target,
        repository=repository,
        sha=sha.lower() if sha and _SHA.fullmatch(sha.lower()) else None,
        ref=ref,
        sender=_text(payload, "sender", "login"),
        run_url=f"{html.rstrip('/')}/actions/runs/{target.run_id}",
    )


def version_of(ref: str | None, sha: str | None) -> str | None:
    """The tag's version (``refs/tags/v2.14.0`` → ``2.14.0``), else the short sha."""
    if ref and ref.startswith("refs/tags/"):
        tag = ref.removeprefix("refs/tags/")
        tag = tag[1:] if len(tag) > 1 and tag[0] in "vV" and tag[1].isdigit() else tag
        if VERSION.problem(tag) is None:
            return tag
    return sha[:SHORT_SHA] if sha else None


def mapped(config: Config, job: Requested) -> GitHubTarget | None:
    """The config's mapping of the job's repository and environment, if any."""
    if config.github is None:
        return None
    return config.github.target(job.repository, job.target.environment)


def run_asked(job: Requested, target: GitHubTarget) -> RunAsked:
    """The run ``job`` asks for under ``target`` (``PayloadProblem`` without a version)."""
    version = version_of(job.ref, job.sha)
    if version is None:
        raise PayloadProblem("ref and sha: expected a tag or a commit to name the version")
    source = {
        "kind": "github",
        "url": job.run_url,
        "name": f"{job.repository} → {job.target.environment}"[:200],
    }
    if job.sender:
        source["triggered_by"] = job.sender[:200]
    return RunAsked(
        service=target.service,
        version=version,
        environment=target.environment,
        plan=target.plan,
        commit=job.sha,
        source=source,
    )
