"""The GitHub adapter's parts without a bot: the version from a tag or sha, Markdown
escaping, which lost deliveries to redeliver, the ``github:`` config section, and the
store of answers owed to GitHub on SQLite and PostgreSQL (migration 0016)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlmodel import Session

from bot.config.loader import ConfigError, load_config
from bot.github import comments, mapping
from bot.github.deliveries import Attempt, to_redeliver
from bot.github.webhook import seen_key
from bot.store.github import GitHubStore, rerun_key
from bot.store.models import DecisionRecord, GitHubJob, Run, utcnow
from bot.store.runs import RunStore
from tests.test_github_flow import CONFIG


def test_version_from_the_tag_else_the_short_sha() -> None:
    sha = "6dcb09b5b57875f334f61aebed695e2e4193db5e"
    assert mapping.version_of("refs/tags/v2.14.0", sha) == "2.14.0"
    assert mapping.version_of("refs/tags/release-7", sha) == "release-7"
    assert mapping.version_of("refs/heads/main", sha) == "6dcb09b"
    assert mapping.version_of("refs/tags/bad tag!", sha) == "6dcb09b"
    assert mapping.version_of(None, None) is None


def test_markdown_is_escaped_and_comments_fit() -> None:
    assert comments.md("a *b* [x](y) <z> @team") == "a \\*b\\* \\[x\\]\\(y\\) &lt;z&gt; @\u200bteam"
    assert len(comments.fit("x" * 5000)) == 1024


def test_only_requests_that_never_got_a_2xx_are_redelivered() -> None:
    now = datetime(2026, 12, 6, 12, tzinfo=UTC)

    def attempt(i: int, guid: str, status: int, ago: float, redelivery: bool = False) -> Attempt:
        return Attempt(
            i, guid, "deployment_protection_rule", "requested", status,
            now - timedelta(minutes=ago), redelivery,
        )  # fmt: skip

    chosen = to_redeliver(
        [
            attempt(1, "ok", 202, 10),
            attempt(2, "lost", 0, 9),
            attempt(3, "fixed", 500, 8),
            attempt(4, "fixed", 202, 7, True),
            attempt(5, "retried", 0, 20),
            attempt(6, "retried", 0, 1, True),  # redelivered a minute ago: wait
            attempt(7, "old", 0, 60 * 24 * 4),
            Attempt(8, "ping", "ping", None, 0, now, False),
        ],
        now,
    )
    assert [a.id for a in chosen] == [2]


def test_config_github_section_names_known_environments(tmp_path: Path) -> None:
    path = tmp_path / "preprod.yml"
    path.write_text(
        CONFIG.format(url="https://x.example", ca="ca.pem", deadline="1h").replace(
            "environment: staging, plan", "environment: prod, plan"
        )
    )
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    text = str(caught.value)
    assert "github.repositories.acme/checkout.environments.production.environment" in text
    assert "'prod' is not an environment" in text


def test_the_example_config_maps_its_repository() -> None:
    config = load_config(Path(__file__).parent.parent / "examples/github/preprod.yml")
    assert config.github is not None
    found = config.github.target("ACME/Checkout", "Production")
    assert found is not None and (found.service, found.environment) == ("checkout-api", "staging")
    assert config.github.target("acme/checkout", "qa") is None


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
async def test_the_answers_owed_on_sqlite_and_postgres(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """Migration 0016 and the owed answers' queries on both databases: recorded and
    claimed once, a stale claim taken again, decided runs with no decision owed found."""
    url = (
        str(request.getfixturevalue("postgres_database"))
        if backend == "postgres"
        else f"sqlite:///{tmp_path}/bot.db"
    )
    runs = RunStore(url)
    with Session(runs.engine) as session:
        for _ in range(2):
            session.add(
                Run(service="s", version="1", environment="e", plan="p", base_url="http://x")
            )
        session.commit()
        session.add(DecisionRecord(run_id=1, outcome="go"))
        session.add(DecisionRecord(run_id=2, outcome="no-go"))
        for run_id in (1, 2):
            session.add(
                GitHubJob(
                    run_id=run_id, owner="acme", repo="checkout", workflow_run=2**40 + run_id,
                    environment="production", installation_id=42, delivery=str(uuid.uuid4()),
                )
            )  # fmt: skip
        session.commit()
    store = GitHubStore(runs)
    assert await store.decided_unowed() == [1, 2]
    assert await store.owe("github:1:decision", 1, "approved", "GO")
    assert not await store.owe("github:1:decision", 1, "approved", "GO")
    assert await store.decided_unowed() == [2]
    assert not await store.claim("github:1:decision", stale_after=60)  # claimed just now
    await store.failed("github:1:decision", "GitHub answered 502: Server Error")
    assert await store.claim("github:1:decision", stale_after=0)
    [owed] = await store.unanswered(utcnow())
    assert (owed.attempts, owed.last_error) == (1, "GitHub answered 502: Server Error")
    await store.answered("github:1:decision")
    assert await store.unanswered(utcnow()) == []
    assert not await store.claim("github:1:decision", stale_after=0)
    runs.engine.dispose()


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
async def test_a_reopened_runs_answers_on_sqlite_and_postgres(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """Migration 0019e and the queries behind a reopened NO-GO: which decision GitHub
    took, whether a later one has a job to go to, withdrawing the ones never taken, and a
    re-run of the job waiting (listed by ``decided_unowed`` until its decision is owed)."""
    url = (
        str(request.getfixturevalue("postgres_database"))
        if backend == "postgres"
        else f"sqlite:///{tmp_path}/bot.db"
    )
    runs = RunStore(url)
    with Session(runs.engine) as session:
        session.add(Run(service="s", version="1", environment="e", plan="p", base_url="http://x"))
        session.commit()
        session.add(
            GitHubJob(
                run_id=1, owner="acme", repo="checkout", workflow_run=7,
                environment="production", installation_id=42, delivery=str(uuid.uuid4()),
            )
        )  # fmt: skip
        session.commit()
    store = GitHubStore(runs)
    first, again = "github:1:decision", "github:1:decision:40"
    assert await store.owe(first, 1, "rejected", "NO-GO")
    assert await store.owe("github:1:started", 1, None, "started")
    await store.answered("github:1:started")
    assert await store.told(1) is None  # a comment is not a decision
    assert await store.closed_to(1, again) is None
    # never taken: withdrawn, but not while a process sends it (claimed just now)
    assert await store.withdraw(1, keep=again, stale_after=60) == 0
    assert await store.withdraw(1, keep=again, stale_after=-1) == 1
    assert await store.get(first) is None
    # taken: GitHub keeps it; a later decision has no job to go to
    assert await store.owe(first, 1, "rejected", "NO-GO")
    await store.answered(first)
    assert not await store.forget(first)
    assert await store.withdraw(1, keep=again, stale_after=-1) == 0
    told = await store.told(1)
    assert told is not None and told.key == first
    assert await store.told(1, but=first) is None
    closed = await store.closed_to(1, again)
    assert closed is not None and closed[1].key == first
    # a re-run of the job waits: the later decision goes to it
    with Session(runs.engine) as session:
        session.add(DecisionRecord(run_id=1, outcome="go"))
        session.commit()
    assert await store.decided_unowed() == []
    await store.await_rerun(1, "guid-2")
    assert await store.closed_to(1, again) is None
    assert await store.decided_unowed() == [1]
    assert await store.owe(again, 1, "approved", "GO")
    await store.rerun_owed(1, "guid-1")  # another re-run's: left alone
    assert await store.decided_unowed() == [1]
    await store.rerun_owed(1, "guid-2")
    assert await store.decided_unowed() == []
    assert await store.forget(again) and await store.get(again) is None
    # the re-run's delivery reached the bot: its progress comment says so, once its
    # seen-request claim (10 minutes) is gone too (not redelivered by the reconciler)
    guid, other = str(uuid.uuid4()), str(uuid.uuid4())
    assert await store.owe(rerun_key(1, guid), 1, None, "waits")
    assert await store.reached([guid, other], seen_key) == {guid}
    runs.engine.dispose()
