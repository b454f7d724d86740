"""How much does preprod cost on top of plain Locust?

Runs the same scenario against the same fast local endpoint (127.0.0.1 only) with the
plain ``locust`` command line and through ``preprod check`` (a one-check plan in a
temporary config; ``--direct`` calls the load check in-process instead), alternating,
and prints both request rates and their ratio (goal: >= 0.95). Also prints the
generator's requests per second per core (requests / CPU seconds of the Locust
process), to size ``workers:``.

    python bench/load_overhead.py [--users 20] [--duration 10] [--rounds 2] [--direct]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from checks.context import CheckContext, RunInfo, Target
from checks.load import LoadCheck, LoadOptions
from checks.load.stats import final_stats

# A minimal keep-alive HTTP/1.1 server: fast enough that the generator, not the
# endpoint, is the bottleneck.
SERVER = textwrap.dedent(
    """
    import asyncio, socket, sys

    RESPONSE = (b"HTTP/1.1 200 OK\\r\\nContent-Type: text/plain\\r\\n"
                b"Content-Length: 2\\r\\n\\r\\nok")

    class Http(asyncio.Protocol):
        def connection_made(self, transport):
            self.transport = transport
            self.buffer = b""
            sock = transport.get_extra_info("socket")
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def data_received(self, data):
            self.buffer += data
            count = self.buffer.count(b"\\r\\n\\r\\n")
            if count:
                self.buffer = self.buffer[self.buffer.rfind(b"\\r\\n\\r\\n") + 4:]
                self.transport.write(RESPONSE * count)

    async def main():
        loop = asyncio.get_running_loop()
        server = await loop.create_server(Http, "127.0.0.1", 0, backlog=1024)
        print(server.sockets[0].getsockname()[1], flush=True)
        await asyncio.sleep(float(sys.argv[1]))

    asyncio.run(main())
    """
)

PLAIN_LOCUSTFILE = textwrap.dedent(
    """
    from locust import FastHttpUser, constant, task

    class PlainUser(FastHttpUser):
        wait_time = constant(0)

        @task
        def index(self):
            self.client.request("GET", "/", name="/")
    """
)


@contextmanager
def fast_endpoint(lifetime_s: float) -> Iterator[str]:
    """The endpoint in a subprocess; it stops by itself after ``lifetime_s``."""
    proc = subprocess.Popen(
        [sys.executable, "-c", SERVER, str(lifetime_s)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        port = int(proc.stdout.readline())
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def plain_locust(url: str, users: int, duration: int, workdir: Path) -> tuple[float, float]:
    """(rps, requests per CPU second) with the plain ``locust`` command."""
    locustfile = workdir / "plain_locustfile.py"
    locustfile.write_text(PLAIN_LOCUSTFILE)
    prefix = workdir / "plain"
    cpu = children_cpu()
    subprocess.run(
        [
            sys.executable,
            "-m",
            "locust",
            "-f",
            str(locustfile),
            "--headless",
            "--host",
            url,
            "--users",
            str(users),
            "--spawn-rate",
            str(users),
            "--run-time",
            f"{duration}s",
            "--only-summary",
            "--json-file",
            str(prefix),
            "--exit-code-on-error",
            "0",
            "--stop-timeout",
            "1",
        ],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        timeout=duration + 60,
    )
    cpu = children_cpu() - cpu
    stats = final_stats(json.loads(Path(f"{prefix}.json").read_text())).total
    return stats.rps, stats.requests / cpu if cpu else 0.0


def through_check(url: str, users: int, duration: int, workdir: Path) -> tuple[float, float]:
    """(rps, requests per CPU second) through the load check."""
    options = LoadOptions.model_validate(
        {
            "users": users,
            "spawn_rate": users,
            "duration": duration,
            "tasks": [{"path": "/"}],
            "thresholds": ["error_rate < 1%"],
        }
    )
    ctx = CheckContext(
        target=Target(name="bench", base_url=url),
        run=RunInfo(run_id=0, service="bench", version="0", environment="local", plan="bench"),
        check_id="load",
        workdir=workdir,
    )
    cpu = children_cpu()
    result = asyncio.run(LoadCheck(options).run(ctx))
    cpu = children_cpu() - cpu
    if result.status.value not in ("passed", "failed"):
        raise SystemExit(f"the load check did not run: {result.summary}")
    requests = result.metrics["requests"]
    return result.metrics["rps"], requests / cpu if cpu else 0.0


CONFIG = """\
channel: C0BENCH
roles:
  sre: {{label: SRE, members: [U0BENCH]}}
environments:
  bench: {{base_url: "{url}", plan: bench}}
plans:
  bench:
    checks:
      - id: load
        type: load
        users: {users}
        spawn_rate: {users}
        duration: {duration}s
        thresholds: ["error_rate < 1%"]
        tasks: [{{path: /}}]
"""


def preprod_command() -> list[str]:
    script = Path(sys.executable).parent / "preprod"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "import sys; from bot.cli.main import main; sys.exit(main())"]


def through_cli(url: str, users: int, duration: int, workdir: Path) -> tuple[float, float]:
    """(rps, requests per CPU second) through ``preprod check`` (a subprocess)."""
    workdir.mkdir(parents=True, exist_ok=True)
    config = workdir / "preprod.yml"
    config.write_text(CONFIG.format(url=url, users=users, duration=duration))
    report = workdir / "report.json"
    cpu = children_cpu()
    subprocess.run(
        [
            *preprod_command(),
            "check",
            "--config",
            str(config),
            "--env",
            "bench",
            "--json",
            str(report),
            "--database",
            f"sqlite:///{workdir / 'bench.sqlite'}",
        ],
        cwd=workdir,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        timeout=duration + 120,
        check=False,
    )
    cpu = children_cpu() - cpu
    (result,) = json.loads(report.read_text())["results"]
    if result["status"] not in ("passed", "failed"):
        raise SystemExit(f"preprod check did not run the test: {result['summary']}")
    metrics = result["metrics"]
    return float(metrics["rps"]), float(metrics["requests"]) / cpu if cpu else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--duration", type=int, default=10, help="seconds per run")
    parser.add_argument("--rounds", type=int, default=2, help="runs of each, alternating")
    parser.add_argument(
        "--direct", action="store_true", help="call the load check in-process, not the CLI"
    )
    args = parser.parse_args()
    run_preprod = through_check if args.direct else through_cli

    lifetime = args.rounds * 2 * (args.duration + 30) + 30
    plain: list[tuple[float, float]] = []
    check: list[tuple[float, float]] = []
    print(
        f"scenario: {args.users} users, no wait, GET / for {args.duration} s, "
        f"{args.rounds} round(s) each; fast local endpoint on 127.0.0.1"
    )
    if args.direct:
        print("preprod side: the load check called in-process (what `preprod check` runs)")
    else:
        print("preprod side: `preprod check --env bench` with a one-check plan")
    with fast_endpoint(lifetime) as url, tempfile.TemporaryDirectory() as tmp:
        for round_no in range(args.rounds):
            started = time.monotonic()
            plain.append(plain_locust(url, args.users, args.duration, Path(tmp)))
            print(
                f"  round {round_no + 1} plain locust : {plain[-1][0]:9.1f} rps "
                f"({time.monotonic() - started:.0f} s)"
            )
            started = time.monotonic()
            check.append(run_preprod(url, args.users, args.duration, Path(tmp) / "check"))
            print(
                f"  round {round_no + 1} preprod check: {check[-1][0]:9.1f} rps "
                f"({time.monotonic() - started:.0f} s)"
            )
    plain_rps = statistics.mean(r for r, _ in plain)
    check_rps = statistics.mean(r for r, _ in check)
    ratio = check_rps / plain_rps if plain_rps else 0.0
    per_core = statistics.mean(c for _, c in plain)
    print(f"plain locust rps : {plain_rps:.1f}")
    print(f"preprod check rps: {check_rps:.1f}")
    print(f"ratio            : {ratio:.3f} (goal >= 0.95: {'ok' if ratio >= 0.95 else 'MISSED'})")
    print(
        f"generator        : {per_core:.0f} requests/s per core (plain Locust, one process; "
        f"preprod: {statistics.mean(c for _, c in check):.0f})"
    )


if __name__ == "__main__":
    main()
