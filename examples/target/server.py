"""Entry point: serve the example target over HTTP and HTTPS from one process.

    python examples/target/server.py [--host 127.0.0.1] [--http-port 0] [--https-port 0]
        [--state-dir DIR] [--defect NAME[,NAME...] ...] [--token T] [--app-version V]

Port 0 picks a free port. Once both listeners accept connections, exactly one JSON line
goes to stdout (``http_url``, ``https_url``, ``ca_bundle``, ``token``, ``defects``); the
process then serves until SIGTERM or SIGINT. Defects also come from ``TARGET_DEFECTS``
(comma separated), the token from ``TARGET_TOKEN``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import signal
import socket
import ssl
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make the ``examples.target`` package importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import uvicorn
from starlette.types import ASGIApp

from examples.target.app import build_app
from examples.target.certs import make_tls
from examples.target.defects import DEFECTS, ENV_VAR, UnknownDefectError, parse_defects
from examples.target.settings import DEFAULT_TOKEN, DEFAULT_VERSION, Settings
from examples.target.settings import SERVICE as SERVICE_NAME

log = logging.getLogger("target")


class _Config(uvicorn.Config):
    """A uvicorn config whose ``load()`` installs our own server SSL context."""

    def __init__(self, app: ASGIApp, *, ssl_context: ssl.SSLContext | None, **kwargs: Any):
        super().__init__(app, **kwargs)
        self._ssl_context = ssl_context

    def load(self) -> None:
        super().load()
        self.ssl = self._ssl_context


class _Server(uvicorn.Server):
    """A uvicorn server that leaves signal handling to :func:`serve` (two share a loop)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def bind(host: str, port: int) -> socket.socket:
    """A bound TCP socket (uvicorn calls ``listen``), so the real port is known up front."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP lets asyncio set TCP_NODELAY; without it keep-alive requests stall ~40 ms.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    return sock


def url(scheme: str, host: str, sock: socket.socket) -> str:
    port = sock.getsockname()[1]
    return f"{scheme}://{f'[{host}]' if ':' in host else host}:{port}"


async def serve(args: argparse.Namespace, settings: Settings) -> None:
    """Run both listeners until a signal; print the JSON line once both are up."""
    tls = make_tls(Path(args.state_dir), settings.defects)
    app = build_app(settings)
    servers: list[tuple[_Server, socket.socket]] = []
    for port, context in ((args.http_port, None), (args.https_port, tls.context)):
        config = _Config(
            app,
            ssl_context=context,
            lifespan="off",
            server_header=False,
            access_log=False,
            log_config=None,
            timeout_graceful_shutdown=3,
        )
        servers.append((_Server(config), bind(args.host, port)))

    loop = asyncio.get_running_loop()

    def stop() -> None:
        for server, _ in servers:
            server.should_exit = True

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop)

    tasks = [asyncio.create_task(server.serve(sockets=[sock])) for server, sock in servers]
    while not all(server.started for server, _ in servers):
        if any(task.done() for task in tasks):
            stop()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise SystemExit("target: a listener failed to start")
        await asyncio.sleep(0.01)

    (_, http_sock), (_, https_sock) = servers
    ready = {
        "http_url": url("http", args.host, http_sock),
        "https_url": url("https", args.host, https_sock),
        "ca_bundle": str(tls.ca_bundle),
        "token": settings.token,
        "defects": list(settings.defects),
    }
    print(json.dumps(ready), flush=True)
    log.warning("%s serving %s and %s", SERVICE_NAME, ready["http_url"], ready["https_url"])
    await asyncio.gather(*tasks)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--http-port", type=int, default=0)
    parser.add_argument("--https-port", type=int, default=0)
    parser.add_argument("--state-dir", default=".preprod/target")
    parser.add_argument(
        "--defect",
        action="append",
        default=[],
        metavar="NAME",
        help=f"plant defects (repeatable, or a comma list): {', '.join(DEFECTS)}",
    )
    parser.add_argument("--token", default=os.environ.get("TARGET_TOKEN") or DEFAULT_TOKEN)
    parser.add_argument("--app-version", default=DEFAULT_VERSION)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and serve; 2 for a bad defect name, 0 after a clean stop."""
    args = parse_args(argv)
    logging.basicConfig(stream=sys.stderr, level=logging.WARNING, format="%(name)s: %(message)s")
    try:
        defects = parse_defects(args.defect, os.environ.get(ENV_VAR))
    except UnknownDefectError as exc:
        print(f"target: {exc}", file=sys.stderr)
        return 2
    settings = Settings(
        token=args.token, app_version=args.app_version, defects=defects, state_dir=args.state_dir
    )
    asyncio.run(serve(args, settings))
    return 0


if __name__ == "__main__":
    sys.exit(main())
