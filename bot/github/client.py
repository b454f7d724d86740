"""The GitHub App's client for custom deployment protection rules: approve, reject, or
post a progress comment on a waiting job, as the installation that owns the rule.

githubkit does the App auth: it signs an RS256 JWT with the App's private key, mints an
installation token with it and reuses that token until a minute before its
``expires_at`` (one cache per client, so two clients never share tokens). Failures
are retried by ``RetryPolicy`` (5xx with backoff, rate limits after ``retry-after``).
"""

from __future__ import annotations

import os
import ssl
from functools import cache
from typing import Any

import httpx
from githubkit import AppInstallationAuthStrategy, GitHub
from githubkit.cache import MemCacheStrategy
from githubkit.exception import GitHubException, RequestError, RequestFailed

from bot.github.retry import RetryPolicy
from bot.github.settings import DEFAULT_API_URL, GitHubSettings
from bot.github.target import DeploymentTarget

MAX_COMMENT_CHARS = 1024
"""GitHub's limit for a progress comment; applied to a decision's comment too."""


def tls_context() -> ssl.SSLContext:
    """One TLS context for every GitHub call of the process.

    githubkit opens an httpx client per call, and httpx builds a new context for each,
    loading the whole CA bundle: ~20-50 ms of the event loop per call, on the path of
    every click and webhook (a burst of 200 deliveries and their decisions blocked the
    loop for seconds). A context is safe to share; it is built again when
    ``SSL_CERT_FILE`` / ``SSL_CERT_DIR`` change, as httpx would read them."""
    return _tls_context(os.environ.get("SSL_CERT_FILE"), os.environ.get("SSL_CERT_DIR"))


@cache
def _tls_context(cert_file: str | None, cert_dir: str | None) -> ssl.SSLContext:
    return httpx.create_ssl_context(trust_env=True)


class GitHubProblem(Exception):
    """A call GitHub refused or that could not be made; the message is one line."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


def check_comment(text: str) -> str:
    """``text`` if GitHub would take it as a comment (Markdown, 1 to 1,024 characters).

    The caller escapes any outside text in it: GitHub renders the comment as Markdown.
    """
    if not text.strip():
        raise GitHubProblem("comment: expected some text")
    if len(text) > MAX_COMMENT_CHARS:
        raise GitHubProblem(
            f"comment: {len(text)} characters, GitHub takes at most {MAX_COMMENT_CHARS}"
        )
    return text


def describe(exc: GitHubException) -> GitHubProblem:
    """A failed call as one line: GitHub's status and ``message`` when it answered."""
    inner = exc.exc if type(exc) is RequestError and isinstance(exc.exc, GitHubException) else exc
    if isinstance(inner, RequestFailed):
        status = inner.response.status_code
        try:
            body: Any = inner.response.raw_response.json()
        except ValueError:
            body = None
        message = body.get("message") if isinstance(body, dict) else None
        text = str(message or inner.response.raw_response.reason_phrase).replace("\n", " ")
        return GitHubProblem(f"GitHub answered {status}: {text}", status)
    if isinstance(inner, RequestError):
        return GitHubProblem(f"GitHub could not be reached: {type(inner.exc).__name__}")
    return GitHubProblem(f"GitHub call failed: {type(inner).__name__}")


class ProtectionRuleClient:
    """Answers jobs waiting on the App's rule through ``POST /repos/{o}/{r}/actions/runs/
    {run_id}/deployment_protection_rule``."""

    def __init__(
        self,
        *,
        private_key_pem: str,
        app_id: int | None = None,
        client_id: str | None = None,
        api_url: str = DEFAULT_API_URL,
        retry: RetryPolicy | None = None,
        timeout: float = 10.0,
    ) -> None:
        if app_id is None and client_id is None:
            raise ValueError("a GitHub App needs its App id or its client id")
        self._auth = (app_id, client_id, private_key_pem)
        self.api_url = api_url.rstrip("/") + "/"
        self.retry = retry or RetryPolicy()
        self.timeout = timeout
        self._cache = MemCacheStrategy()
        self._clients: dict[int, GitHub[AppInstallationAuthStrategy]] = {}

    @classmethod
    def from_settings(
        cls, settings: GitHubSettings, retry: RetryPolicy | None = None
    ) -> ProtectionRuleClient:
        return cls(
            private_key_pem=settings.private_key_pem,
            app_id=settings.app_id,
            client_id=settings.client_id,
            api_url=settings.api_url,
            retry=retry,
        )

    def _github(self, installation_id: int) -> GitHub[AppInstallationAuthStrategy]:
        client = self._clients.get(installation_id)
        if client is None:
            app_id, client_id, key = self._auth
            # with an App id githubkit makes it the JWT issuer; else the client id
            strategy = AppInstallationAuthStrategy(app_id, key, installation_id, client_id)
            client = GitHub(
                strategy,
                base_url=self.api_url,
                timeout=self.timeout,
                cache_strategy=self._cache,
                http_cache=False,
                auto_retry=self.retry,
                ssl_verify=tls_context(),
            )
            self._clients[installation_id] = client
        return client

    async def approve(self, target: DeploymentTarget, comment: str) -> None:
        """Let the waiting job proceed."""
        await self._review(target, {"state": "approved", "comment": check_comment(comment)})

    async def reject(self, target: DeploymentTarget, comment: str) -> None:
        """Fail the waiting job."""
        await self._review(target, {"state": "rejected", "comment": check_comment(comment)})

    async def comment(self, target: DeploymentTarget, text: str) -> None:
        """A progress report on the waiting job, deciding nothing (GitHub takes 10)."""
        await self._review(target, {"comment": check_comment(text)})

    async def _review(self, target: DeploymentTarget, fields: dict[str, str]) -> None:
        github = self._github(target.installation_id)
        data: Any = {"environment_name": target.environment, **fields}
        try:
            await github.rest.actions.async_review_custom_gates_for_run(
                target.owner, target.repo, target.run_id, data=data
            )
        except GitHubException as exc:
            raise describe(exc) from exc
