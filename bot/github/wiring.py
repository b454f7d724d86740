"""The GitHub side of a running bot, built when the ``PREPROD_GITHUB_*`` settings are
set: the App's client, the gate listener that answers jobs, and the reconciler."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from bot.gate.actions import Gate
from bot.github.answers import GitHubAnswers
from bot.github.client import ProtectionRuleClient
from bot.github.deliveries import AppDeliveries
from bot.github.reconcile import Reconciler
from bot.github.retry import RetryPolicy
from bot.github.settings import RECONCILE_EVERY, GitHubSettings
from bot.store.runs import RunStore


@dataclass
class GitHubApp:
    settings: GitHubSettings
    client: ProtectionRuleClient
    answers: GitHubAnswers
    reconciler: Reconciler
    every: float = RECONCILE_EVERY
    """Seconds between reconciler passes."""

    @classmethod
    def build(
        cls,
        settings: GitHubSettings,
        store: RunStore,
        gate: Gate,
        page_url: Callable[[int], str],
        retry: RetryPolicy | None = None,
    ) -> GitHubApp:
        """Everything wired, and the listener added to the gate."""
        client = ProtectionRuleClient.from_settings(settings, retry)
        answers = GitHubAnswers(store, client, page_url, settings.reconcile_every)
        gate.add_listener(answers)
        reconciler = Reconciler(answers, gate, AppDeliveries(settings, retry))
        return cls(settings, client, answers, reconciler, settings.reconcile_every)

    async def aclose(self) -> None:
        await self.answers.aclose()
