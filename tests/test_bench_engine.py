"""bench/engine.py in small (issue 26 point 4): a plan of a few checks through the real
engine and the same requests with plain httpx; every figure is printed (no timing is
asserted: the machine is shared)."""

from __future__ import annotations

import sys

import pytest

from bench import engine as bench


def test_the_engine_bench_prints_both_sides_their_ratio_and_the_cost_per_check(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "argv", ["engine.py", "--checks", "8", "--rounds", "2"])
    bench.main()
    out = capsys.readouterr().out
    assert "8 http checks, concurrency 4, 2 rounds, sqlite, load average" in out
    for line in ("engine ", "plain httpx", "ratio ", "best rounds", "own time per check"):
        assert line in out, f"{line!r} missing from:\n{out}"
