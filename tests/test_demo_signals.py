"""`kill PID` of a demo stops what it started, as Ctrl-C does: SIGTERM left the target,
the Slack stand-in and the bot running on their ports (issue 24, point 8)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.support.processes import alive
from tests.support.target import REPO_ROOT

SCRIPT = """
import sys, time
from contextlib import ExitStack
from pathlib import Path
from examples.processes import background, stop_on_sigterm

stop_on_sigterm()
try:  # around everything, as a demo's main: the signal may come at any line
    with ExitStack() as stack:
        child = stack.enter_context(background(["sleep", "120"], {}, Path(sys.argv[1])))
        print(child.pid, flush=True)
        time.sleep(120)
except KeyboardInterrupt:
    print("stopped", flush=True)
"""


def test_sigterm_stops_what_a_demo_started(tmp_path: Path) -> None:
    demo = subprocess.Popen(
        [sys.executable, "-c", SCRIPT, str(tmp_path / "child.log")],
        cwd=REPO_ROOT,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        stdout=subprocess.PIPE,
        text=True,
    )
    assert demo.stdout is not None
    child = int(demo.stdout.readline())
    assert alive(child)
    demo.send_signal(signal.SIGTERM)
    assert demo.wait(20) == 0
    assert "stopped" in demo.stdout.read()
    deadline = time.monotonic() + 10
    while alive(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not alive(child), "the demo's child outlived it"


def test_every_demo_stops_on_sigterm() -> None:
    for name in ("demo.py", "slack_demo.py", "pipeline_demo.py"):
        text = (REPO_ROOT / "examples" / name).read_text()
        assert "stop_on_sigterm()" in text.split("def main(", 1)[1], name
