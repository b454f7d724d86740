"""Which waiting job an answer is for: a repository, a workflow run and an environment,
and the installation whose token may answer it. Pure parsing of GitHub's callback URL.

Owner and repository names are checked against GitHub's own alphabet because they end up
in a URL path: a name like ``../x`` must never reach an API call.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

OWNER = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})"
REPO = r"[A-Za-z0-9._-]{1,100}"
_CALLBACK = re.compile(
    rf"/repos/(?P<owner>{OWNER})/(?P<repo>{REPO})"
    r"/actions/runs/(?P<run>[0-9]{1,19})/deployment_protection_rule"
)
MAX_ENVIRONMENT = 255
"""GitHub's limit for an environment name."""


class TargetProblem(ValueError):
    """A callback URL or field that does not name a workflow run; the message says which."""


@dataclass(frozen=True)
class DeploymentTarget:
    """A job waiting on the App's rule: ``owner/repo`` run ``run_id`` at ``environment``."""

    owner: str
    repo: str
    run_id: int
    environment: str
    installation_id: int

    def __post_init__(self) -> None:
        if not re.fullmatch(OWNER, self.owner):
            raise TargetProblem("owner: expected a GitHub account name")
        if not re.fullmatch(REPO, self.repo) or self.repo in (".", ".."):
            raise TargetProblem("repository: expected a GitHub repository name")
        if not 0 < self.run_id < 2**63:
            raise TargetProblem("run id: expected a positive integer")
        if not self.environment or len(self.environment) > MAX_ENVIRONMENT:
            raise TargetProblem(f"environment: expected 1 to {MAX_ENVIRONMENT} characters")
        if self.installation_id <= 0:
            raise TargetProblem("installation.id: expected a positive integer")

    @classmethod
    def from_callback_url(
        cls, url: str, environment: str, installation_id: int
    ) -> DeploymentTarget:
        """From a webhook's ``deployment_callback_url`` (the run id is inside it)."""
        found = _CALLBACK.fullmatch(urlsplit(url).path)
        if found is None:
            raise TargetProblem(
                "deployment_callback_url: expected "
                ".../repos/OWNER/REPO/actions/runs/RUN_ID/deployment_protection_rule"
            )
        return cls(found["owner"], found["repo"], int(found["run"]), environment, installation_id)
