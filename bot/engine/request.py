"""What a run is asked to be (service, version, environment, plan, checks, who asked,
from where) and where runs keep their files: the engine's inputs, apart from how it
executes them (bot/engine/runner.py)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path


class RequestError(ValueError):
    """A run that cannot start as asked (unknown environment, plan or check)."""


@dataclass(frozen=True)
class RunRequest:
    service: str
    version: str
    environment: str
    plan: str | None = None
    only: tuple[str, ...] = ()
    requester: str = "cli"
    source: str = "cli"
    origin: Mapping[str, str] | None = None
    """A pipeline's request: where it came from (kind, url, triggered_by, name)."""
    commit: str | None = None
    keep_going: bool = False
    """Run every stage even after a blocking failure (``--keep-going``)."""


WORKDIR_ENV = "PREPROD_WORK_DIR"


def default_workdir(database: str | None = None) -> Path:
    """Where runs keep their files (Locust's, a drill's), one ``run-N`` folder a run:
    ``$PREPROD_WORK_DIR``; else, given the database URL, ``work`` beside a SQLite file
    (runs of two databases never share a folder) or, for a server database, a folder in
    the temporary directory; else ``.preprod/work`` in the working directory."""
    if explicit := os.environ.get(WORKDIR_ENV):
        return Path(explicit)
    if database is None:
        return Path(".preprod/work")
    file = database.removeprefix("sqlite:///") if database.startswith("sqlite:///") else ""
    if file and file != ":memory:":
        return Path(file).parent / "work"
    return Path(tempfile.gettempdir()) / f"preprod-work-{os.getuid()}"
