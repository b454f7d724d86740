"""Deliveries that never reached the bot: GitHub does not redeliver a failed webhook by
itself, and a lost ``deployment_protection_rule`` leaves the job waiting for 30 days.
The App lists its recent deliveries (``GET /app/hook/deliveries``, App JWT) and asks
for a redelivery (``POST /app/hook/deliveries/{id}/attempts``).

``to_redeliver`` is the pure choice: a ``requested`` delivery none of whose attempts got
a 2xx, young enough for GitHub to redeliver (3 days), and not redelivered moments ago
(a bot that is down is not hammered).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from githubkit import AppAuthStrategy, GitHub
from githubkit.cache import MemCacheStrategy
from githubkit.exception import GitHubException

from bot.github.client import describe, tls_context
from bot.github.mapping import ACTION, EVENT
from bot.github.retry import RetryPolicy
from bot.github.settings import GitHubSettings

REDELIVERABLE = timedelta(days=3)
"""GitHub redelivers deliveries of the past three days."""
COOLDOWN = timedelta(minutes=5)
"""After a redelivery that failed too, wait this long before the next."""
PER_PAGE = 100


@dataclass(frozen=True)
class Attempt:
    """One attempt as ``GET /app/hook/deliveries`` lists it."""

    id: int
    guid: str
    event: str
    action: str | None
    status_code: int
    delivered_at: datetime
    redelivery: bool

    @property
    def ok(self) -> bool:
        return 200 <= self.status_code < 300


def to_redeliver(
    attempts: Iterable[Attempt], now: datetime, cooldown: timedelta = COOLDOWN
) -> list[Attempt]:
    """The latest attempt of each protection-rule request that never got a 2xx."""
    by_guid: dict[str, list[Attempt]] = {}
    for attempt in attempts:
        if attempt.event == EVENT and attempt.action == ACTION:
            by_guid.setdefault(attempt.guid, []).append(attempt)
    chosen = []
    for tries in by_guid.values():
        if any(t.ok for t in tries):
            continue
        first = min(tries, key=lambda t: t.delivered_at)
        latest = max(tries, key=lambda t: (t.delivered_at, t.id))
        if now - first.delivered_at > REDELIVERABLE:
            continue
        if latest.redelivery and now - latest.delivered_at < cooldown:
            continue
        chosen.append(latest)
    return sorted(chosen, key=lambda t: t.delivered_at)


class AppDeliveries:
    """The App's webhook deliveries, as the App itself (a JWT, no installation)."""

    def __init__(self, settings: GitHubSettings, retry: RetryPolicy | None = None) -> None:
        strategy = AppAuthStrategy(settings.app_id, settings.private_key_pem, settings.client_id)
        self.github = GitHub(
            strategy,
            base_url=settings.api_url.rstrip("/") + "/",
            timeout=10.0,
            cache_strategy=MemCacheStrategy(),  # its own JWT cache, as the client's tokens
            http_cache=False,
            auto_retry=retry or RetryPolicy(),
            ssl_verify=tls_context(),
        )

    async def recent(self) -> list[Attempt]:
        try:
            answer = await self.github.rest.apps.async_list_webhook_deliveries(per_page=PER_PAGE)
        except GitHubException as exc:
            raise describe(exc) from exc
        return [
            Attempt(
                id=item.id,
                guid=item.guid,
                event=item.event,
                action=item.action,
                status_code=item.status_code,
                delivered_at=_aware(item.delivered_at),
                redelivery=item.redelivery,
            )
            for item in answer.parsed_data
        ]

    async def redeliver(self, delivery_id: int) -> None:
        try:
            await self.github.rest.apps.async_redeliver_webhook_delivery(delivery_id)
        except GitHubException as exc:
            raise describe(exc) from exc


def _aware(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value
