"""``preprod evidence verify`` on hostile files (tests/support/hostile_zips.py): every one
is answered by the real CLI within 200 MB of memory and 5 s of CPU, with exit 1 or 2 and
one line, never a traceback; and no damage to a genuine signed pack makes ``verify`` raise."""

from __future__ import annotations

import random
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from bot.audit import keys
from bot.cli.main import main
from bot.reports import evidence
from tests.support.hostile_zips import (
    CASES,
    Outcome,
    genuine_files,
    measured,
    pack,
    verify_in_child,
)

MAX_RSS_MIB = 200
MAX_CPU_S = 5.0
IN_CHILD = (
    "32 x 64 MiB of zeros (2 MB)", "64 MiB declaring 1 KiB", "bad CRC", "chain_head a string",
    "tampered report", "90,000 junk trail lines",
)  # fmt: skip
"""The cases run as child processes here (a second of start-up each); bench/hostile_zips.py
runs every case so and prints the figures."""


def test_every_hostile_zip_gets_one_line_and_its_exit_code(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for case in CASES:
        path = tmp_path / "case.zip"
        path.write_bytes(case.build())
        code = main(["evidence", "verify", str(path)])
        captured = capsys.readouterr()
        printed = captured.out + captured.err
        assert code == case.exit_code, (case.name, printed)
        lines = printed.splitlines()
        assert 1 <= len(lines) <= case.lines and "Traceback" not in printed, (case.name, printed)
        assert str(path) in printed, (case.name, printed)


def test_the_real_cli_answers_hostile_zips_within_200_mb_and_5_s_of_cpu(tmp_path: Path) -> None:
    cases = [case for case in CASES if case.name in IN_CHILD]
    assert len(cases) == len(IN_CHILD)
    paths = []
    for number, case in enumerate(cases):
        path = tmp_path / f"case-{number:02d}.zip"
        path.write_bytes(case.build())
        paths.append(path)
    with ThreadPoolExecutor(max_workers=2) as pool:  # two cores shared: two children at once
        outcomes: list[Outcome] = list(pool.map(verify_in_child, paths))
    for case, outcome in zip(cases, outcomes, strict=True):
        lines = outcome.output.splitlines()
        assert outcome.exit_code == case.exit_code, (case.name, outcome)
        assert len(lines) == case.lines and "Traceback" not in outcome.output, (case.name, outcome)
        assert outcome.peak_rss_mib < MAX_RSS_MIB, (case.name, outcome)
        assert outcome.cpu_s < MAX_CPU_S, (case.name, outcome)
    said = {case.name: outcome.output for case, outcome in zip(cases, outcomes, strict=True)}
    assert "32 files in the zip; a pack holds at most 16" in said["32 x 64 MiB of zeros (2 MB)"]
    assert (
        "report.html holds more than the 1024 bytes it declares" in said["64 MiB declaring 1 KiB"]
    )
    assert "report.json fails its CRC-32 check" in said["bad CRC"]
    assert "`audit.chain_head` is a string, expected an object" in said["chain_head a string"]
    assert "NOT verify: report.json differs from the manifest" in said["tampered report"]
    junk = said["90,000 junk trail lines"].splitlines()
    assert junk[1].startswith("  audit.jsonl line 1: not an audit event")
    assert junk[-1] == "  … audit.jsonl was read no further (90000 lines)"


def test_the_peak_rss_measured_is_the_childs_own() -> None:
    """The bound above means something: a child that fills 250 MB is measured so, and one
    that does nothing is not charged this test process's memory."""
    ballast = b"x" * (300 * 1024 * 1024)  # this process grows; the children must not show it
    hungry = measured([sys.executable, "-c", "data = b'x' * (250 * 1024 * 1024)"])
    idle = measured([sys.executable, "-c", "pass"])
    assert len(ballast) and hungry.exit_code == 0 and idle.exit_code == 0
    assert hungry.peak_rss_mib > 250 and idle.peak_rss_mib < 50, (hungry, idle)


def test_a_damaged_pack_is_answered_never_raised() -> None:
    """Bytes flipped, cut or inserted anywhere in a genuine signed pack: verify names the
    malformation on one line (or, damage that misses every byte read, passes). A member's
    content changed and the zip rewritten around it never verifies with the key (but for
    manifest.sig, whose key label is not trusted and whose base64 has padding bits: what
    counts there is that the decoded signature verifies with the given key)."""
    key = keys.load_private(keys.generate().private_pem)
    public = key.public_key()
    files = evidence.signed(genuine_files(), key)
    genuine = pack(files)
    assert evidence.verify(genuine, public).signature_checked
    rng = random.Random(21)
    answered = {"ok": 0, "tampered": 0, "malformed": 0}
    for _ in range(400):
        data = bytearray(genuine)
        at = rng.randrange(len(data))
        match rng.randrange(4):
            case 0:
                data[at] ^= 1 << rng.randrange(8)
            case 1:
                data[at : at + 4] = rng.randbytes(4)
            case 2:
                del data[at:]
            case _:
                data[at:at] = rng.randbytes(rng.randrange(1, 40))
        checked = evidence.verify(bytes(data), public)
        if checked.malformed is not None:
            assert "\n" not in checked.malformed
            answered["malformed"] += 1
        else:
            answered["tampered" if checked.problems else "ok"] += 1
    assert answered["malformed"] > 300, answered
    for _ in range(100):
        name = rng.choice(sorted(set(files) - {evidence.SIGNATURE}))
        content = bytearray(files[name])
        content[rng.randrange(len(content))] ^= 1 << rng.randrange(8)
        checked = evidence.verify(pack(dict(files, **{name: bytes(content)})), public)
        assert checked.malformed is not None or checked.problems, name
