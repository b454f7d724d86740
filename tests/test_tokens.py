"""Pipeline tokens: only a hash is stored, the scope is fnmatch, revocation holds, the
last use is written at most once a minute, and the CLI prints a token once."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlmodel import Session, select

from bot.gate.policy import Decision, Outcome
from bot.slack.blocks import announcement
from bot.slack.render_source import source_line, web_url
from bot.store.models import AuditEvent, PipelineToken
from bot.store.runs import RunStore
from bot.store.tokens import Scope, TokenProblem, Tokens, parse
from tests.cli import run_cli
from tests.test_slack_gate import decided

T0 = datetime(2026, 12, 6, 8, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def store(tmp_path: Path) -> RunStore:
    return RunStore(f"sqlite:///{tmp_path}/t.db")


async def test_a_token_is_shown_once_and_only_its_hash_is_kept(store: RunStore) -> None:
    clock = Clock()
    tokens = Tokens(store, clock)
    token = await tokens.create("gh-deploy", "checkout-*", "stag*", "cli:alice")
    parsed = parse(token)
    assert parsed is not None and token.startswith("ppt_")
    token_id, secret = parsed
    assert len(secret) >= 43  # 32 random bytes, url-safe
    with Session(store.engine) as session:
        row = session.get(PipelineToken, token_id)
        assert row is not None and row.hash == hashlib.sha256(secret.encode()).hexdigest()
        assert secret not in str(row.model_dump())
        created = session.exec(select(AuditEvent).where(AuditEvent.action == "token.created"))
        assert [(e.actor, e.details["name"]) for e in created] == [("cli:alice", "gh-deploy")]
    caller = await tokens.check(token)
    assert caller is not None and caller.actor == "token:gh-deploy"
    assert caller.scope.allows("checkout-api", "staging")
    assert not caller.scope.allows("payments", "staging")
    assert not caller.scope.allows("checkout-api", "prod")
    for wrong in (
        token[:-1] + ("A" if token[-1] != "A" else "B"),
        "ppt_1_x",
        "",
        "Bearer x",
        f"ppt_{token_id + 1}_{secret}",
    ):
        assert await tokens.check(wrong) is None


async def test_last_use_is_written_at_most_once_a_minute(store: RunStore) -> None:
    clock = Clock()
    tokens = Tokens(store, clock)
    token = await tokens.create("gh", "*", "*", "t")

    def last_used() -> datetime | None:
        with Session(store.engine) as session:
            row = session.exec(select(PipelineToken)).one()
            return row.last_used_at.replace(tzinfo=UTC) if row.last_used_at else None

    assert last_used() is None
    await tokens.check(token)
    assert last_used() == T0
    clock.now = T0 + timedelta(seconds=59)
    await tokens.check(token)
    assert last_used() == T0
    clock.now = T0 + timedelta(seconds=61)
    await tokens.check(token)
    assert last_used() == T0 + timedelta(seconds=61)


async def test_revoked_tokens_are_refused_and_bad_names_explained(store: RunStore) -> None:
    tokens = Tokens(store)
    token = await tokens.create("gh", "*", "*", "t")
    await tokens.revoke("gh", "cli:bob")
    assert await tokens.check(token) is None
    with pytest.raises(TokenProblem, match="revoked already"):
        await tokens.revoke("gh", "cli:bob")
    with pytest.raises(TokenProblem, match="no token named"):
        await tokens.revoke("nope", "cli:bob")
    with pytest.raises(TokenProblem, match="exists already"):
        await tokens.create("gh", "*", "*", "t")
    with pytest.raises(TokenProblem, match="token name"):
        await tokens.create("bad name;rm", "*", "*", "t")
    with pytest.raises(TokenProblem, match="service pattern"):
        await tokens.create("x", "a b", "*", "t")
    [listed] = await tokens.listing()
    assert listed.revoked_at is not None


def test_scope_patterns_are_fnmatch_and_case_sensitive() -> None:
    assert Scope("*", "*").allows("anything", "prod")
    assert Scope("checkout-?pi", "prod").allows("checkout-api", "prod")
    assert not Scope("Checkout-*", "prod").allows("checkout-api", "prod")


def test_the_cli_creates_lists_and_revokes(tmp_path: Path) -> None:
    created = run_cli(
        "tokens",
        "create",
        "gh",
        "--service",
        "checkout-*",
        "--environment",
        "*",
        tmp_path=tmp_path,
        reports=False,
    )
    assert created.code == 0, created.stderr
    assert parse(created.stdout.strip()) is not None
    assert "shown once" in created.stderr
    listed = run_cli("tokens", "list", tmp_path=tmp_path, reports=False)
    assert "gh  service checkout-*  environment *" in listed.stdout
    assert created.stdout.strip() not in listed.stdout
    again = run_cli(
        "tokens",
        "create",
        "gh",
        "--service",
        "x",
        "--environment",
        "y",
        tmp_path=tmp_path,
        reports=False,
    )
    assert again.code == 2 and "exists already" in again.stderr
    revoked = run_cli("tokens", "revoke", "gh", tmp_path=tmp_path, reports=False)
    assert revoked.code == 0 and "revoked" in revoked.stdout


def test_the_source_line_escapes_pipeline_text_and_links_only_web_urls() -> None:
    line = source_line(
        {
            "kind": "github",
            "url": "https://ci.example/run/1",
            "name": "deploy <!here>",
            "triggered_by": "eve\n*bold* <@U0BOSS>",
        },
        "abc`def0123456789",
    )
    assert line is not None
    assert line.startswith("🔧 From <https://ci.example/run/1|GitHub Actions deploy &lt;!here&gt;>")
    assert "commit `abc'def01234`" in line
    assert "triggered by eve *bold* &lt;@U0BOSS&gt;" in line
    assert "<@U0BOSS>" not in line and "\n" not in line
    for url in ("javascript:alert(1)", "https://x.example/a b", "ftp://x", None):
        assert web_url(url) is None
        unlinked = source_line({"kind": "zz", "url": url or ""}, None)
        assert unlinked == "🔧 From a pipeline"
    assert source_line(None, None) is None


def test_superseded_is_final_and_announced_sensibly() -> None:
    assert Outcome.SUPERSEDED.final
    gate = decided(
        Outcome.SUPERSEDED,
        "superseded by run #9 (version 2.15.0)",
        origin={"kind": "argo", "name": "rollout"},
        commit="abc123",
    )
    message = announcement(gate, 60.0)
    assert message.blocks[0]["text"]["text"].startswith("⏭️ SUPERSEDED: checkout-api 2.14.0")
    body = str(message.blocks)
    assert "superseded by run #9 (version 2.15.0)" in body
    assert "From Argo Rollouts rollout" in body and "commit `abc123`" in body
    assert Decision(Outcome.SUPERSEDED).outcome.value == "superseded"
