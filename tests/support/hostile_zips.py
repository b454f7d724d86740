"""Hostile files for ``preprod evidence verify``: zip bombs, sizes that lie, damaged and
truncated zips, names that climb out of a folder, manifests that are not JSON or hold the
wrong types, missing, extra and nested members, and well-formed packs that were tampered
with. Built at test time (the big ones compress 64 MiB of zeros once, then reuse it) by
writing zip records byte by byte, so that a case can say what no zip library would write.

``CASES`` names each case, builds its bytes and says which exit code it must get (2: not
a readable pack; 1: a well-formed pack that does not verify)."""

from __future__ import annotations

import hashlib
import io
import json
import struct
import subprocess
import sys
import tempfile
import time
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from functools import cache
from pathlib import Path

from bot.audit.chain import GENESIS, Entry, seal
from bot.record.report import RunReport
from bot.reports import evidence
from tests.support.processes import preprod_command

MiB = 1024 * 1024
T0 = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Member:
    """One zip entry as written: ``data`` is what is stored (compressed or not); the
    declared sizes and CRC default to the truth and may lie."""

    name: bytes
    data: bytes
    size: int
    crc: int
    method: int = zipfile.ZIP_DEFLATED
    flags: int = 0
    compressed_size: int | None = None


def member(name: str | bytes, content: bytes, method: int = zipfile.ZIP_DEFLATED) -> Member:
    raw = name.encode() if isinstance(name, str) else name
    data = _deflate(content) if method == zipfile.ZIP_DEFLATED else content
    return Member(raw, data, len(content), zlib.crc32(content), method)


def _deflate(content: bytes) -> bytes:
    packer = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    return packer.compress(content) + packer.flush()


def raw_zip(
    members: list[Member],
    *,
    entries: int | None = None,
    directory_size: int | None = None,
    zip64_locator: bool = False,
) -> bytes:
    """A zip of ``members``; the end record's counts may be overridden to lie."""
    out, directory = io.BytesIO(), io.BytesIO()
    for m in members:
        offset = out.tell()
        csize = len(m.data) if m.compressed_size is None else m.compressed_size
        fields = (20, m.flags, m.method, 0, 0x21, m.crc, csize, m.size, len(m.name), 0)
        out.write(struct.pack("<4s5H3L2H", b"PK\x03\x04", *fields) + m.name + m.data)
        central = (20, 20, m.flags, m.method, 0, 0x21, m.crc, csize, m.size, len(m.name))
        directory.write(struct.pack("<4s6H3L5H2L", b"PK\x01\x02", *central, 0, 0, 0, 0, 0, offset))
        directory.write(m.name)
    start, listing = out.tell(), directory.getvalue()
    out.write(listing)
    if zip64_locator:
        out.write(struct.pack("<4sLQL", b"PK\x06\x07", 0, 0, 1))
    count = len(members) if entries is None else entries
    size = len(listing) if directory_size is None else directory_size
    out.write(struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, count, count, size, start, 0))
    return out.getvalue()


# -- a genuine pack, and ways to spoil it ----------------------------------------------


@cache
def genuine_files() -> dict[str, bytes]:
    """A real pack's files (``evidence.build``) of a run with a three-event trail."""
    trail: list[Entry] = []
    for seq, action in enumerate(("run.started", "run.finished", "gate.decision"), 1):
        prev = trail[-1].hash if trail else GENESIS
        trail.append(seal(seq=seq, at=T0, run_id=1, actor="U0RM", action=action,
                          details={"n": seq}, prev_hash=prev))  # fmt: skip
    report = RunReport(
        run_id=1, service="checkout-api", version="2.14.0", environment="staging",
        plan="standard", base_url="https://staging.example", started_at=T0, results=[],
    )  # fmt: skip
    return evidence.build(report, trail, trail[-1], None, T0)


def pack(files: dict[str, bytes], stored: tuple[str, ...] = ()) -> bytes:
    """A zip of ``files``, deflated but for those ``stored`` as they are."""
    methods = {
        name: zipfile.ZIP_STORED if name in stored else zipfile.ZIP_DEFLATED for name in files
    }
    return raw_zip([member(name, data, methods[name]) for name, data in files.items()])


def manifest_with(files: dict[str, bytes], change: Callable[[dict[str, object]], None]) -> bytes:
    """A pack whose manifest was changed by ``change`` (and nothing else)."""
    manifest = json.loads(files[evidence.MANIFEST])
    change(manifest)
    return pack(dict(files, **{evidence.MANIFEST: json.dumps(manifest).encode()}))


def relisted(files: dict[str, bytes]) -> dict[str, bytes]:
    """``files`` with the manifest's hashes and sizes recomputed (a consistent rewrite)."""
    manifest = json.loads(files[evidence.MANIFEST])
    manifest["files"] = {
        name: {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}
        for name, data in files.items()
        if name != evidence.MANIFEST
    }
    return dict(files, **{evidence.MANIFEST: json.dumps(manifest).encode()})


@cache
def zeros_64mib() -> Member:
    """64 MiB of zeros, deflated (about 64 KB): the brick of every bomb here."""
    return member("zeros", bytes(64 * MiB))


def bomb(count: int) -> bytes:
    brick = zeros_64mib()
    return raw_zip([replace(brick, name=f"f{i:02d}.txt".encode()) for i in range(count)])


def lying_pack(size: int) -> bytes:
    """A genuine pack whose report.html is 64 MiB of zeros declaring ``size`` bytes (the
    CRC and the manifest agree with the lie)."""
    files = genuine_files()
    brick = zeros_64mib()
    listed = dict(files, **{"report.html": bytes(size)})
    members = [member(name, data) for name, data in relisted(listed).items()]
    members[0] = replace(brick, name=b"report.html", size=size, crc=zlib.crc32(bytes(size)))
    return raw_zip(members)


def damaged_crc() -> bytes:
    members = [member(name, data) for name, data in genuine_files().items()]
    members[1] = replace(members[1], crc=members[1].crc ^ 0xFFFF)
    return raw_zip(members)


def renamed(name: bytes) -> bytes:
    members = [member(n, data) for n, data in genuine_files().items()]
    return raw_zip([*members, replace(members[0], name=name)])


def nested_zip() -> bytes:
    inner = pack(genuine_files())
    return pack(relisted(dict(genuine_files(), **{"report.json": inner})))


def long_trail_line() -> bytes:
    """A trail whose first line never ends (stored: a bomb would be refused earlier)."""
    files = dict(genuine_files(), **{"audit.jsonl": b'{"seq": 1, "x": "' + b"a" * (2 * MiB)})
    return pack(relisted(files), stored=("audit.jsonl",))


def big_manifest() -> bytes:
    manifest = genuine_files()[evidence.MANIFEST] + b" " * (2 * MiB)
    return pack(dict(genuine_files(), **{evidence.MANIFEST: manifest}), stored=(evidence.MANIFEST,))


def short_of_declared() -> bytes:
    """report.html declares 1,000 bytes more than its deflate stream holds."""
    members = [member(name, data) for name, data in genuine_files().items()]
    members[0] = replace(members[0], size=members[0].size + 1000)
    return raw_zip(members)


def data_past_the_end() -> bytes:
    """report.json's compressed size covers junk after the end of its deflate stream."""
    members = [member(name, data) for name, data in genuine_files().items()]
    members[1] = replace(members[1], data=members[1].data + b"junk" * 100)
    return raw_zip(members)


def bad_utf8_name() -> bytes:
    members = [member(name, data) for name, data in genuine_files().items()]
    return raw_zip([*members, replace(member("x", b""), name=b"\xff\xfe.txt", flags=0x800)])


def signature_not_json() -> bytes:
    return pack(dict(genuine_files(), **{evidence.SIGNATURE: b"not json"}))


def tampered() -> bytes:
    files = genuine_files()
    return pack(dict(files, **{"report.json": files["report.json"].replace(b"staging", b"prod")}))


def _set(path: tuple[str, ...], value: object) -> Callable[[dict[str, object]], None]:
    def change(manifest: dict[str, object]) -> None:
        target: object = manifest
        for key in path[:-1]:
            assert isinstance(target, dict)
            target = target[key]
        assert isinstance(target, dict)
        target[path[-1]] = value

    return change


def _text_of(size: int) -> bytes:
    """``size`` bytes of hex lines, which deflate about 130 times: within the ratio bound."""
    line = b"".join(hashlib.sha256(bytes([i])).hexdigest().encode() for i in range(256)) + b"\n"
    return (line * (size // len(line) + 1))[:size]


def big_genuine() -> bytes:
    """A pack that verifies, its report.html 60 MiB of text: streamed, not held."""
    return pack(relisted(dict(genuine_files(), **{"report.html": _text_of(60 * MiB)})))


def at_every_bound() -> bytes:
    """Near the most ``verify`` reads: four listed files of 63 MiB (of 256 MiB) that expand
    130 times, the trail among them; the manifest lists other hashes (exit 1)."""
    brick = member("x", _text_of(63 * MiB))
    files = genuine_files()
    members = [member(name, data) for name, data in files.items()]
    for number, name in enumerate(
        ("report.html", "report.json", "report.junit.xml", "audit.jsonl")
    ):
        members[number] = replace(brick, name=name.encode())
    assert [m.name for m in members[:4]] == [n.encode() for n in list(files)[:4]]
    return raw_zip(members)


def trail_of(lines: bytes) -> bytes:
    """A pack whose audit.jsonl is ``lines`` (stored, the manifest's hashes recomputed)."""
    return pack(relisted(dict(genuine_files(), **{"audit.jsonl": lines})), stored=("audit.jsonl",))


@dataclass(frozen=True)
class Case:
    name: str
    build: Callable[[], bytes]
    exit_code: int
    lines: int = 1
    """Lines the answer may take: one, but for a tampered pack that names its problems."""


CASES: list[Case] = [
    Case("not a zip", lambda: b"this is not a zip\n" * 40, 2),
    Case("empty file", lambda: b"", 2),
    Case("truncated", lambda: pack(genuine_files())[:-700], 2),
    Case("32 x 64 MiB of zeros (2 MB)", lambda: bomb(32), 2),
    Case("16 x 64 MiB of zeros", lambda: bomb(16), 2),
    Case("64 MiB declaring 1 KiB", lambda: lying_pack(1024), 2),
    Case("64 MiB declaring 64 MiB + 1", lambda: lying_pack(64 * MiB + 1), 2),
    Case("bad CRC", damaged_crc, 2),
    Case("duplicate names", lambda: renamed(b"report.html"), 2),
    Case("../ in a name", lambda: renamed(b"../../etc/cron.d/evil"), 2),
    Case("absolute name", lambda: renamed(b"/etc/passwd"), 2),
    Case("NUL in a name", lambda: renamed(b"manifest.json\x00.txt"), 2),
    Case("10,000 members", lambda: raw_zip([member(f"{i}", b"") for i in range(10_000)]), 2),
    Case("directory of 4 GB", lambda: raw_zip([member("a", b"")], directory_size=2**32 - 1), 2),
    Case("zip64 locator", lambda: raw_zip([member("a", b"")], zip64_locator=True), 2),
    Case("encrypted member", lambda: raw_zip([replace(member("a", b"x"), flags=1)]), 2),
    Case("bzip2 member", lambda: raw_zip([replace(member("a", b"x"), method=12)]), 2),
    Case("manifest not JSON", lambda: pack(dict(genuine_files(), **{"manifest.json": b"{"})), 2),
    Case("manifest nested 100,000 deep", lambda: pack({"manifest.json": b"[" * 100_000}), 2),
    Case(
        "chain_head a string",
        lambda: manifest_with(genuine_files(), _set(("audit", "chain_head"), "abc")),
        2,
    ),
    Case("files a list", lambda: manifest_with(genuine_files(), _set(("files",), [])), 2),
    Case(
        "bytes a string",
        lambda: manifest_with(genuine_files(), _set(("files", "report.json", "bytes"), "12")),
        2,
    ),
    Case(
        "member missing",
        lambda: pack({k: v for k, v in genuine_files().items() if k != "report.html"}),
        2,
    ),
    Case("member extra", lambda: pack(dict(genuine_files(), **{"notes.txt": b"trust me"})), 2),
    Case("nested zip", nested_zip, 2),
    Case("2 MiB audit line", long_trail_line, 2),
    Case("2 MiB manifest", big_manifest, 2),
    Case("declares more than it holds", short_of_declared, 2),
    Case("data past the deflate stream", data_past_the_end, 2),
    Case("name not UTF-8", bad_utf8_name, 2),
    Case("manifest.sig not JSON", signature_not_json, 2),
    Case(
        "schema of another tool",
        lambda: manifest_with(genuine_files(), _set(("schema",), "x/9")),
        2,
    ),
    Case("tampered report", tampered, 1),
    Case("90,000 junk trail lines", lambda: trail_of(b"1\n" * 90_000), 1, lines=22),
    Case("200,000 blank trail lines", lambda: trail_of(b"\n" * 200_000), 2),
]


# -- the real CLI on a case, measured ---------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    exit_code: int
    output: str
    """stdout and stderr together."""
    peak_rss_mib: float
    """The child's own peak resident set (``wait4``'s rusage, so no other child counts)."""
    cpu_s: float
    wall_s: float


LAUNCHER = """
import json, os, signal, sys, time
report, timeout, *command = sys.argv[1:]
pid = os.posix_spawn(command[0], command, os.environ)
deadline = time.monotonic() + float(timeout)
while True:
    done, status, usage = os.wait4(pid, os.WNOHANG)
    if done:
        break
    if time.monotonic() > deadline:
        os.kill(pid, signal.SIGKILL)
    time.sleep(0.01)
cpu = usage.ru_utime + usage.ru_stime
with open(report, "w") as out:
    json.dump([os.waitstatus_to_exitcode(status), usage.ru_maxrss, cpu], out)
"""
"""Spawns the command and reports its exit code, peak RSS (KiB) and CPU seconds. Linux
starts a spawned process's ``ru_maxrss`` at its parent's memory, so measuring from the test
process would count pytest's own; this launcher is a few MB."""


def verify_in_child(path: Path, *extra: str, timeout: float = 60.0) -> Outcome:
    """``python -m bot.cli evidence verify PATH``, measured."""
    return measured(preprod_command("evidence", "verify", str(path), *extra), timeout)


def measured(command: list[str], timeout: float = 60.0) -> Outcome:
    """``command`` in a child process, spawned by the small ``LAUNCHER``, which reaps it
    with ``os.wait4`` for its own rusage and kills it by pid after ``timeout`` seconds."""
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as directory:
        output, report = Path(directory) / "output", Path(directory) / "report.json"
        launcher = [sys.executable, "-S", "-c", LAUNCHER, str(report), str(timeout), *command]
        with output.open("wb") as sink:
            subprocess.run(launcher, stdout=sink, stderr=sink, stdin=subprocess.DEVNULL, check=True)
        exit_code, rss_kib, cpu = json.loads(report.read_text())
        text = output.read_bytes().decode(errors="replace")
    return Outcome(exit_code, text, rss_kib / 1024, cpu, time.monotonic() - started)
