"""Start the example target (examples/target/server.py) as a real subprocess: used by
the demo and by the tests."""

from __future__ import annotations

import json
import os
import selectors
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

SERVER = Path(__file__).resolve().parent / "server.py"
STARTUP_TIMEOUT = 20.0
STOP_TIMEOUT = 10.0


@dataclass(frozen=True)
class RunningTarget:
    """A live target: where it listens, the CA that signed its certificate, its token."""

    http_url: str
    https_url: str
    ca_bundle: Path
    token: str
    defects: tuple[str, ...]

    @property
    def production_url(self) -> str:
        """The production twin the target serves for host ``localhost`` (site.py)."""
        return self.https_url.replace("://127.0.0.1:", "://localhost:", 1)


class TargetStartError(RuntimeError):
    """The target exited or stayed silent instead of announcing its URLs."""


def _read_line(proc: subprocess.Popen[bytes], timeout: float) -> bytes:
    """The first stdout line, or b"" if the process exits or the timeout passes first."""
    assert proc.stdout is not None
    buffer = b""
    deadline = time.monotonic() + timeout
    with selectors.DefaultSelector() as selector:
        selector.register(proc.stdout, selectors.EVENT_READ)
        while b"\n" not in buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not selector.select(remaining):
                return b""
            chunk = os.read(proc.stdout.fileno(), 4096)
            if not chunk:
                return b""
            buffer += chunk
    return buffer.split(b"\n", 1)[0]


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    if proc.stdout is not None:
        proc.stdout.close()


@contextmanager
def start_target(
    *defects: str, state_dir: Path, app_version: str = "2.14.0"
) -> Iterator[RunningTarget]:
    """Run the target with ``defects`` until the block ends (SIGTERM, then wait).

    Its certificates go to ``state_dir`` and its stderr to ``state_dir/target.log``.
    """
    state_dir.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, str(SERVER), "--state-dir", str(state_dir)]
    command += ["--app-version", app_version]
    for defect in defects:
        command += ["--defect", defect]
    env = {k: v for k, v in os.environ.items() if k not in ("TARGET_DEFECTS", "TARGET_TOKEN")}
    log_path = state_dir / "target.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=log, stdin=subprocess.DEVNULL, env=env
        )
    try:
        line = _read_line(proc, STARTUP_TIMEOUT)
        if not line:
            _stop(proc)
            stderr = log_path.read_text(errors="replace").strip()
            raise TargetStartError(
                f"target {' '.join(defects) or '(healthy)'} did not start within "
                f"{STARTUP_TIMEOUT:g}s (exit code {proc.returncode}); stderr:\n{stderr}"
            )
        info = json.loads(line)
        yield RunningTarget(
            http_url=info["http_url"],
            https_url=info["https_url"],
            ca_bundle=Path(info["ca_bundle"]),
            token=info["token"],
            defects=tuple(info["defects"]),
        )
    finally:
        _stop(proc)
