"""Webhook payloads in GitHub's shapes (checked against githubkit's schema models in the
tests): users, organizations, repositories, deployments, and the
``deployment_protection_rule`` ``requested`` event. Pure: the same inputs, the same dict.
"""

from __future__ import annotations

import base64
from typing import Any

Json = dict[str, Any]
WEB = "https://github.com"
STAMP = "2026-12-01T09:00:00Z"


def node_id(kind: str, number: int) -> str:
    """An opaque GraphQL node id, like GitHub's (``MDQ6VXNlcjE=`` style)."""
    return base64.b64encode(f"0{len(kind)}:{kind}{number}".encode()).decode()


def user(api: str, login: str, user_id: int, kind: str = "User") -> Json:
    """A ``simple-user`` (the ``sender``, an owner, a deployment's creator)."""
    base = f"{api}/users/{login}"
    return {
        "login": login,
        "id": user_id,
        "node_id": node_id(kind, user_id),
        "avatar_url": f"https://avatars.githubusercontent.com/u/{user_id}?v=4",
        "gravatar_id": "",
        "url": base,
        "html_url": f"{WEB}/{login}",
        "followers_url": f"{base}/followers",
        "following_url": f"{base}/following{{/other_user}}",
        "gists_url": f"{base}/gists{{/gist_id}}",
        "starred_url": f"{base}/starred{{/owner}}{{/repo}}",
        "subscriptions_url": f"{base}/subscriptions",
        "organizations_url": f"{base}/orgs",
        "repos_url": f"{base}/repos",
        "events_url": f"{base}/events{{/privacy}}",
        "received_events_url": f"{base}/received_events",
        "type": kind,
        "user_view_type": "public",
        "site_admin": False,
    }


def organization(api: str, login: str, org_id: int) -> Json:
    base = f"{api}/orgs/{login}"
    return {
        "login": login,
        "id": org_id,
        "node_id": node_id("Organization", org_id),
        "url": base,
        "repos_url": f"{base}/repos",
        "events_url": f"{base}/events",
        "hooks_url": f"{base}/hooks",
        "issues_url": f"{base}/issues",
        "members_url": f"{base}/members{{/member}}",
        "public_members_url": f"{base}/public_members{{/member}}",
        "avatar_url": f"https://avatars.githubusercontent.com/u/{org_id}?v=4",
        "description": None,
    }


_REPO_LINKS = {
    "archive_url": "/{archive_format}{/ref}",
    "assignees_url": "/assignees{/user}",
    "blobs_url": "/git/blobs{/sha}",
    "branches_url": "/branches{/branch}",
    "collaborators_url": "/collaborators{/collaborator}",
    "comments_url": "/comments{/number}",
    "commits_url": "/commits{/sha}",
    "compare_url": "/compare/{base}...{head}",
    "contents_url": "/contents/{+path}",
    "contributors_url": "/contributors",
    "deployments_url": "/deployments",
    "downloads_url": "/downloads",
    "events_url": "/events",
    "forks_url": "/forks",
    "git_commits_url": "/git/commits{/sha}",
    "git_refs_url": "/git/refs{/sha}",
    "git_tags_url": "/git/tags{/sha}",
    "hooks_url": "/hooks",
    "issue_comment_url": "/issues/comments{/number}",
    "issue_events_url": "/issues/events{/number}",
    "issues_url": "/issues{/number}",
    "keys_url": "/keys{/key_id}",
    "labels_url": "/labels{/name}",
    "languages_url": "/languages",
    "merges_url": "/merges",
    "milestones_url": "/milestones{/number}",
    "notifications_url": "/notifications{?since,all,participating}",
    "pulls_url": "/pulls{/number}",
    "releases_url": "/releases{/id}",
    "stargazers_url": "/stargazers",
    "statuses_url": "/statuses/{sha}",
    "subscribers_url": "/subscribers",
    "subscription_url": "/subscription",
    "tags_url": "/tags",
    "teams_url": "/teams",
    "trees_url": "/git/trees{/sha}",
}


def repository(api: str, owner: Json, name: str, repo_id: int) -> Json:
    full = f"{owner['login']}/{name}"
    base = f"{api}/repos/{full}"
    return {
        "id": repo_id,
        "node_id": node_id("Repository", repo_id),
        "name": name,
        "full_name": full,
        "private": False,
        "owner": owner,
        "html_url": f"{WEB}/{full}",
        "description": None,
        "fork": False,
        "url": base,
        **{key: base + tail for key, tail in _REPO_LINKS.items()},
        "git_url": f"git://github.com/{full}.git",
        "ssh_url": f"git@github.com:{full}.git",
        "clone_url": f"{WEB}/{full}.git",
        "svn_url": f"{WEB}/{full}",
        "mirror_url": None,
        "homepage": None,
        "language": "Python",
        "forks_count": 0,
        "forks": 0,
        "stargazers_count": 0,
        "watchers_count": 0,
        "watchers": 0,
        "size": 120,
        "default_branch": "main",
        "open_issues_count": 0,
        "open_issues": 0,
        "is_template": False,
        "topics": [],
        "has_issues": True,
        "has_projects": True,
        "has_wiki": True,
        "has_pages": False,
        "has_downloads": True,
        "has_discussions": False,
        "archived": False,
        "disabled": False,
        "visibility": "public",
        "license": None,
        "pushed_at": STAMP,
        "created_at": STAMP,
        "updated_at": STAMP,
        "allow_forking": True,
        "web_commit_signoff_required": False,
    }


def deployment(
    api: str, repo: Json, deployment_id: int, sha: str, ref: str, environment: str, creator: Json
) -> Json:
    base = f"{repo['url']}/deployments/{deployment_id}"
    return {
        "url": base,
        "id": deployment_id,
        "node_id": node_id("Deployment", deployment_id),
        "sha": sha,
        "ref": ref.removeprefix("refs/heads/"),
        "task": "deploy",
        "payload": {},
        "original_environment": environment,
        "environment": environment,
        "description": None,
        "creator": creator,
        "created_at": STAMP,
        "updated_at": STAMP,
        "statuses_url": f"{base}/statuses",
        "repository_url": repo["url"],
        "transient_environment": False,
        "production_environment": False,
    }


def callback_url(api: str, owner: str, repo: str, run_id: int) -> str:
    """Where the App answers: the workflow run id is inside it."""
    return f"{api}/repos/{owner}/{repo}/actions/runs/{run_id}/deployment_protection_rule"


def protection_rule_requested(
    api: str,
    *,
    owner: str,
    repo: str,
    run_id: int,
    environment: str,
    installation_id: int,
    sha: str,
    ref: str,
    event: str = "push",
    deployment_id: int | None = None,
    sender: str = "octocat",
    owner_id: int = 1000,
    repo_id: int = 2000,
) -> Json:
    """A ``deployment_protection_rule`` ``requested`` payload; ``deployment`` is null
    unless ``deployment_id`` is given (GitHub sends null when no deployment was created)."""
    owner_user = user(api, owner, owner_id, kind="Organization")
    repo_json = repository(api, owner_user, repo, repo_id)
    sender_json = user(api, sender, 583231)
    return {
        "action": "requested",
        "environment": environment,
        "event": event,
        "sha": sha,
        "ref": ref,
        "deployment_callback_url": callback_url(api, owner, repo, run_id),
        "deployment": (
            None
            if deployment_id is None
            else deployment(api, repo_json, deployment_id, sha, ref, environment, sender_json)
        ),
        "pull_requests": [],
        "repository": repo_json,
        "organization": organization(api, owner, owner_id),
        "installation": {
            "id": installation_id,
            "node_id": node_id("Installation", installation_id),
        },
        "sender": sender_json,
    }
