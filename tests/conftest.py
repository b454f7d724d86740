"""Shared fixtures. The example target: ``healthy_target`` and ``target_factory``."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from bot.store.runs import RunStore
from checks import registry
from tests.kinds import KINDS, ScriptedCheck
from tests.support.postgres import PostgresUnavailable, running_postgres
from tests.support.processes import Database
from tests.support.target import RunningTarget, start_target


@pytest.fixture(scope="session")
def healthy_target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningTarget]:
    """One defect-free target for the whole session."""
    with start_target(state_dir=tmp_path_factory.mktemp("target-healthy")) as target:
        yield target


@pytest.fixture
def target_factory(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Callable[..., RunningTarget]]:
    """``target_factory("slow", "no-hsts")`` starts a target; all stop after the test."""
    with ExitStack() as stack:

        def start(*defects: str, app_version: str = "2.14.0") -> RunningTarget:
            state_dir = tmp_path_factory.mktemp("target")
            return stack.enter_context(
                start_target(*defects, state_dir=state_dir, app_version=app_version)
            )

        yield start


@pytest.fixture
def scripted_kinds() -> Iterator[None]:
    """The engine tests' own check kinds (tests/kinds.py), registered for one test."""
    for name, kind in KINDS.items():
        registry.register(name, kind)
    ScriptedCheck.spans.clear()
    yield
    for name in KINDS:
        registry.unregister(name)


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A real PostgreSQL server for the session (skipped, or failed under CI, without one)."""
    try:
        with running_postgres() as url:
            yield url
    except PostgresUnavailable as exc:
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL is needed in CI: {exc}")
        pytest.skip(str(exc))


@pytest.fixture
def postgres_database(postgres_url: str) -> str:
    """A fresh database per test on the session's PostgreSQL server."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    with Database(postgres_url, autocommit=True) as admin:
        admin.query(f'CREATE DATABASE "{name}"')
    return postgres_url.rsplit("/", 1)[0] + f"/{name}"


@pytest.fixture(params=["sqlite", "postgres"])
def either_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[RunStore]:
    """A fresh store on each database in turn: a SQLite file, then a PostgreSQL database."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path}/preprod.db"
    else:
        url = request.getfixturevalue("postgres_database")
    store = RunStore(url)
    yield store
    store.engine.dispose()
