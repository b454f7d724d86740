"""Which waiting job an answer is for: a repository, a workflow run and an environment,
and the installation whose token may answer it. Pure parsing of GitHub's callback URL.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

_CALLBACK = re.compile(
    r"/repos/(?P<owner>[A-Za-z0-9](?:[A-Za-z0-9-]{0,38}))/(?P<repo>[A-Za-z0-9._-]{1,100})"
    r"/actions/runs/(?P<run>[0-9]{1,19})/deployment_protection_rule"
)


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

    @classmethod
    def from_callback_url(
        cls, url: str, environment: str, installation_id: int
    ) -> DeploymentTarget:
        """From a webhook's ``deployment_callback_url`` (the run id is inside it)."""
        path = urlsplit(url).path
        found = _CALLBACK.search(path)
        if found is None or not path.endswith("/deployment_protection_rule"):
            raise TargetProblem(
                "deployment_callback_url: expected "
                ".../repos/OWNER/REPO/actions/runs/RUN_ID/deployment_protection_rule"
            )
        if not environment or len(environment) > 255:
            raise TargetProblem("environment: expected 1 to 255 characters")
        if installation_id <= 0:
            raise TargetProblem("installation.id: expected a positive integer")
        return cls(found["owner"], found["repo"], int(found["run"]), environment, installation_id)
