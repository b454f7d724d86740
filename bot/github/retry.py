"""When to try a GitHub call again, and after how long: a pure decision githubkit asks
after each failure (its ``auto_retry`` hook, which then sleeps and resends).

Rate limits (429/403 with ``retry-after`` or an exhausted quota) wait what GitHub says;
5xx and 429 without a hint back off exponentially; both stop after ``attempts``, and a
wait longer than ``max_wait`` is not worth holding a pipeline for, so it fails at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from githubkit.exception import GitHubException, RateLimitExceeded, RequestError, RequestFailed
from githubkit.retry import RetryOption


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 4
    """Calls in all, the first included."""
    base_delay: float = 0.5
    """Seconds before the first retry of a 5xx; doubled each time."""
    max_delay: float = 8.0
    max_wait: float = 60.0
    """The longest ``retry-after`` honoured; beyond it the call fails."""

    def delay(self, exc: GitHubException, retry_count: int) -> float | None:
        """Seconds to wait before retry ``retry_count + 1``, or None to give up."""
        if retry_count + 1 >= self.attempts:
            return None
        if type(exc) is RequestError and isinstance(exc.exc, GitHubException):
            exc = exc.exc  # failed inside the auth flow (the token request): judge that
        if isinstance(exc, RateLimitExceeded):
            wait = float(exc.retry_after.total_seconds())
            return wait if wait <= self.max_wait else None
        backoff = min(self.max_delay, self.base_delay * 2.0**retry_count)
        if isinstance(exc, RequestFailed):
            status = int(exc.response.status_code)
            return backoff if status >= 500 or status == 429 else None
        if isinstance(exc, RequestError):
            return backoff  # the connection failed or timed out
        return None

    def __call__(self, exc: GitHubException, retry_count: int) -> RetryOption:
        wait = self.delay(exc, retry_count)
        if wait is None:
            return RetryOption(False)
        return RetryOption(True, timedelta(seconds=wait))
