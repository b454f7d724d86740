"""A local GitHub stand-in for tests: a real HTTP server that plays GitHub's side of a
custom deployment protection rule (App JWT, installation tokens, the review endpoint,
signed webhooks and their deliveries). See ``GitHubStandIn`` (server.py).
"""

from github_standin.app import App, Installation, jwt_problem
from github_standin.hooks import Delivery, sign
from github_standin.payloads import protection_rule_requested
from github_standin.reviews import MAX_COMMENT_CHARS, MAX_PROGRESS_COMMENTS, WaitingJob
from github_standin.server import GitHubStandIn, RecordedCall

__all__ = [
    "MAX_COMMENT_CHARS",
    "MAX_PROGRESS_COMMENTS",
    "App",
    "Delivery",
    "GitHubStandIn",
    "Installation",
    "RecordedCall",
    "WaitingJob",
    "jwt_problem",
    "protection_rule_requested",
    "sign",
]
