"""The cheap parts of the deployment files (the image itself is built and run by
``bench/image.sh``, minutes, not part of the suite): the Dockerfile's base is a build
argument, its user is not root, its CMD is a valid ``preprod serve`` and its HEALTHCHECK
command passes against a live ``/healthz`` and fails without one; compose.yml has the bot,
two workers and PostgreSQL, and validates with ``docker-compose config`` where installed;
``bench/image.sh`` parses."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.cli.main import build_parser
from tests.support.local_http import serving

ROOT = Path(__file__).resolve().parent.parent
COMPOSE_ENV = {"POSTGRES_PASSWORD": "pw", "SLACK_BOT_TOKEN": "xoxb-x", "SLACK_SIGNING_SECRET": "s"}


def instructions(text: str) -> list[tuple[str, str]]:
    """A Dockerfile's instructions as (KEYWORD, arguments): comments dropped, continuation
    lines joined."""
    joined = re.sub(r"\\\n", " ", "\n".join(
        line for line in text.splitlines() if not line.lstrip().startswith("#")
    ))  # fmt: skip
    found = []
    for line in joined.splitlines():
        if line.strip():
            keyword, _, rest = line.strip().partition(" ")
            found.append((keyword.upper(), rest.strip()))
    return found


@pytest.fixture(scope="module")
def dockerfile() -> list[tuple[str, str]]:
    return instructions((ROOT / "Dockerfile").read_text())


def one(found: list[tuple[str, str]], keyword: str) -> str:
    values = [rest for key, rest in found if key == keyword]
    assert len(values) == 1, (keyword, values)
    return values[0]


def test_the_base_is_a_build_argument_defaulting_to_python_slim(
    dockerfile: list[tuple[str, str]],
) -> None:
    assert dockerfile[0] == ("ARG", "BASE=python:3.11-slim")
    assert dockerfile[1] == ("FROM", "${BASE}")
    run = one(dockerfile, "RUN")
    assert '".[postgres]"' in run, run  # the PostgreSQL driver is in the image
    assert "/run/secrets/pip_ca" in run, run  # a proxy's CA, as a build secret only


def test_the_user_is_not_root_and_the_cmd_is_a_valid_serve(
    dockerfile: list[tuple[str, str]],
) -> None:
    assert one(dockerfile, "USER") not in ("root", "0", "")
    cmd = json.loads(one(dockerfile, "CMD"))
    assert cmd[:2] == ["sh", "-c"], cmd
    script = cmd[2].replace('"${PREPROD_PORT:-3000}"', "3000")
    words = shlex.split(script)
    assert words[:2] == ["exec", "preprod"], words  # preprod is PID 1 and gets SIGTERM
    args = build_parser().parse_args(words[2:])
    assert (args.command, args.host, args.port) == ("serve", "0.0.0.0", 3000)


class Health(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200 if self.path == "/healthz" else 404)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def healthz() -> Iterator[int]:
    with serving(Health) as url:
        yield int(url.rsplit(":", 1)[1])


def test_the_healthcheck_command_passes_on_healthz_and_fails_without_it(
    dockerfile: list[tuple[str, str]], healthz: int
) -> None:
    check = one(dockerfile, "HEALTHCHECK")
    form = json.loads(check[check.index("CMD ") + 4 :])
    assert form[:2] == ["python", "-c"], form

    def run(port: int) -> int:
        env = {**os.environ, "PREPROD_PORT": str(port)}
        command = [sys.executable, "-c", form[2]]
        return subprocess.run(command, env=env, capture_output=True, timeout=20).returncode

    assert run(healthz) == 0
    with socket_closed() as port:
        assert run(port) != 0


@contextmanager
def socket_closed() -> Iterator[int]:
    """A port on 127.0.0.1 that nothing listens on (bound, not listening, meanwhile)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield int(sock.getsockname()[1])


def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "compose.yml").read_text())
    return loaded


def test_compose_has_the_bot_two_workers_and_postgres() -> None:
    services = compose()["services"]
    assert set(services) == {"postgres", "bot", "worker-1", "worker-2"}
    assert services["bot"]["environment"]["PREPROD_EXECUTE_RUNS"] == "0"
    for name in ("bot", "worker-1", "worker-2"):
        assert services[name]["build"] == "."
        url = services[name]["environment"]["DATABASE_URL"]
        assert url.startswith("postgresql+psycopg://preprod:"), (name, url)
    for name in ("worker-1", "worker-2"):
        args = build_parser().parse_args(services[name]["command"][1:])
        assert args.command == "worker"
        assert services[name]["depends_on"] == {"bot": {"condition": "service_healthy"}}


@pytest.mark.skipif(shutil.which("docker-compose") is None, reason="docker-compose not installed")
def test_compose_validates_with_docker_compose() -> None:
    done = subprocess.run(
        ["docker-compose", "-f", "compose.yml", "config", "--services"],
        cwd=ROOT,
        env={**os.environ, **COMPOSE_ENV},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert sorted(done.stdout.split()) == ["bot", "postgres", "worker-1", "worker-2"]

    missing = {k: v for k, v in COMPOSE_ENV.items() if k != "POSTGRES_PASSWORD"}
    refused = subprocess.run(
        ["docker-compose", "-f", "compose.yml", "config", "-q"],
        cwd=ROOT,
        env={**{k: v for k, v in os.environ.items() if k != "POSTGRES_PASSWORD"}, **missing},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert refused.returncode != 0 and "set POSTGRES_PASSWORD" in refused.stderr


def test_the_image_script_parses() -> None:
    script = ROOT / "bench" / "image.sh"
    assert os.access(script, os.X_OK)
    done = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
