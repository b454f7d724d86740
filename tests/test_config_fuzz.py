"""The config loader against hostile and broken files (tests/fuzz/config/, written by
tests/fuzz/make_corpus.py, plus a few generated here that are too big to keep in git).

Every case runs the real ``preprod config validate`` in a child process
(tests/fuzz/measure.py) and must answer exit 0 (a valid file) or 2 (a configuration
problem, named in the user's terms), never a traceback, within 2 seconds and 200 MB of
peak RSS."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.fuzz.make_corpus import VALID
from tests.support.target import REPO_ROOT

CORPUS = Path(__file__).parent / "fuzz" / "config"
MEASURE = Path(__file__).parent / "fuzz" / "measure.py"
SECONDS = 2.0
PEAK_RSS = 200 * 2**20

CHECK = "      - {{id: c{i}, type: http, requests: [{{path: /p{i}, expect_status: 200}}]}}\n"

GENERATED: dict[str, Callable[[], bytes]] = {
    "oversize_2mib.yml": lambda: b"a: " + b"x" * (2 << 20),
    "scalar_900kb.yml": lambda: b"a: " + b"x" * 900_000 + b"\n",
    "scalar_900kb_in_a_checked_value.yml": lambda: VALID.replace(
        "https://staging.example", "ftp://" + "x" * 900_000
    ).encode(),
    "wide_flow_mapping_60k_keys.yml": lambda: (
        "a: {" + ", ".join(f"k{i}: {i}" for i in range(60_000)) + "}\n"
    ).encode(),
    "wide_block_list_200k_items.yml": lambda: b"a:\n" + b"- x\n" * 200_000,
    "brackets_1mb.yml": lambda: b"a: " + b"[" * 1_000_000,
    "blank_lines_1mb.yml": lambda: b"\n" * 1_000_000,
    "valid_500_checks.yml": lambda: (
        VALID.split("    checks:")[0]
        + "    checks:\n"
        + "".join(CHECK.format(i=i) for i in range(500))
    ).encode(),
}

CASES = sorted(p.name for p in CORPUS.glob("*.yml")) + sorted(GENERATED)


@pytest.fixture(scope="module")
def answers(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """Every case through tests/fuzz/measure.py (one process imports the CLI, one child per
    case runs it): exit code, seconds, peak RSS, stdout and stderr, by case name."""
    work = tmp_path_factory.mktemp("fuzz")
    paths = []
    for name in CASES:
        if name in GENERATED:
            (work / name).write_bytes(GENERATED[name]())
            paths.append(work / name)
        else:
            paths.append(CORPUS / name)
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("PREPROD_", "TARGET_"))}
    subprocess.run(
        [sys.executable, str(MEASURE), *map(str, paths)],
        cwd=REPO_ROOT,
        env={**environ, "COLUMNS": "200", "PYTHONPATH": str(REPO_ROOT), "MEASURE_DIR": str(work)},
        check=True,
        capture_output=True,
        timeout=600,
    )
    found: dict[str, dict[str, Any]] = {}
    for index, (name, path) in enumerate(zip(CASES, paths, strict=True)):
        case = work / f"{index}.case"
        found[name] = {
            **json.loads(case.with_suffix(".cost.json").read_text()),
            "path": path,
            "stdout": case.with_suffix(".out").read_text(errors="replace"),
            "stderr": case.with_suffix(".err").read_text(errors="replace"),
        }
    return found


def test_the_corpus_is_small_on_disk_and_covers_each_kind_of_hostile_input() -> None:
    assert sum(p.stat().st_size for p in CORPUS.glob("*.yml")) < 512 * 1024
    names = " ".join(CASES)
    for kind in ("laughs", "alias", "depth", "utf16", "latin1", "binary", "bom", "tag_python"):
        assert kind in names, kind
    for kind in ("scalar", "duplicate", "empty", "indent", "oversize", "valid_"):
        assert kind in names, kind


@pytest.mark.parametrize("name", CASES)
def test_config_validate_answers_quickly_in_bounded_memory(
    name: str, answers: dict[str, dict[str, Any]]
) -> None:
    answer = answers[name]
    output = answer["stdout"] + answer["stderr"]
    assert "Traceback" not in output, output[-3000:]
    assert answer["code"] == (0 if name.startswith("valid_") else 2), output[-3000:]
    # CPU seconds: what the file costs the parser, whatever else the machine is doing
    # (wall seconds on a shared machine measured the neighbours)
    assert answer["seconds"] >= 0 and answer["cpu_seconds"] < SECONDS, answer
    assert answer["peak_rss"] < PEAK_RSS, answer
    if answer["code"] == 2:
        head = rf"{re.escape(str(answer['path']))}: \d+ configuration problems?\n"
        assert re.match(head, answer["stderr"]), answer["stderr"][:500]
        assert len(answer["stderr"]) < 2000, "the answer must be short, whatever the file holds"
    else:
        assert f"{answer['path']}: ok" in answer["stdout"]
