"""Evidence packs: one zip with a run's HTML, JSON and JUnit reports, its audit trail, the
config it used (secrets redacted) and ``manifest.json``, which lists the SHA-256 of every
file and the audit chain's head, so that a pack can be checked long after the run.

Building and checking are pure (bytes in, bytes or problems out); the CLI reads and writes
the files."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.audit.chain import Entry, digest, from_json
from bot.engine.report import RunReport
from bot.reports.html import render_html
from bot.reports.json_report import render_json
from bot.reports.junit import render_junit

SCHEMA = "preprod.evidence/1"
MANIFEST = "manifest.json"
AUDIT = "audit.jsonl"
CONFIG = "config.yml"
MAX_MEMBERS = 32
MAX_MEMBER_BYTES = 64 * 1024 * 1024
"""Bounds on what ``verify`` reads: a pack is a handful of files, never a zip bomb."""


@dataclass(frozen=True)
class ConfigUsed:
    path: str
    digest: str
    """SHA-256 of the file as read when the run started (``run.config_digest``)."""
    text: str | None
    """The file's text with secrets redacted, or None when it was not kept."""


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _link(entry: Entry | None) -> dict[str, Any] | None:
    return {"seq": entry.seq, "hash": entry.hash} if entry is not None else None


def trail_jsonl(entries: Sequence[Entry]) -> str:
    return "".join(map(trail_line, entries))


def trail_line(entry: Entry) -> str:
    """One audit event as a JSON line (``preprod audit export``, the evidence pack)."""
    return json.dumps(entry.as_json(), sort_keys=True, ensure_ascii=False) + "\n"


def build(
    report: RunReport,
    trail: Sequence[Entry],
    chain_head: Entry | None,
    config: ConfigUsed | None,
    created_at: datetime,
) -> dict[str, bytes]:
    """Every file of the pack by name, ``manifest.json`` last."""
    files: dict[str, bytes] = {
        "report.html": render_html(report).encode(),
        "report.json": render_json(report).encode(),
        "report.junit.xml": render_junit(report).encode(),
        AUDIT: trail_jsonl(trail).encode(),
    }
    if config is not None and config.text is not None:
        files[CONFIG] = config.text.encode()
    manifest = {
        "schema": SCHEMA,
        "run": report.run_id,
        "service": report.service,
        "version": report.version,
        "environment": report.environment,
        "decision": report.gate.decision if report.gate else None,
        "tables_agree_with_trail": {
            "agree": not (report.gate and report.gate.trail_differences),
            "differences": list(report.gate.trail_differences) if report.gate else [],
        },
        "created_at": created_at.isoformat(),
        "files": {
            name: {"sha256": sha256(data), "bytes": len(data)} for name, data in files.items()
        },
        "audit": {
            "events": len(trail),
            "run_head": _link(trail[-1] if trail else None),
            "chain_head": _link(chain_head),
        },
        "config": {
            "path": config.path if config else None,
            "sha256_as_read": config.digest if config else None,
            "included": CONFIG in files,
            "secrets_redacted": True,
        },
    }
    files[MANIFEST] = (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode()
    return files


def zipped(files: Mapping[str, bytes]) -> bytes:
    """The pack as zip bytes (fixed timestamps: the same files give the same zip)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, data)
    return buffer.getvalue()


@dataclass(frozen=True)
class Checked:
    problems: list[str]
    manifest: dict[str, Any]

    @property
    def ok(self) -> bool:
        return not self.problems


def verify(pack: bytes) -> Checked:
    """Check a pack: every file against the manifest, no file unlisted, every audit event
    against its own hash, and the trail's last event against the manifest's head."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(pack))
    except zipfile.BadZipFile as exc:
        return Checked([f"not a zip file: {exc}"], {})
    with archive:
        members = archive.infolist()
        if len(members) > MAX_MEMBERS:
            return Checked([f"{len(members)} files; a pack holds at most {MAX_MEMBERS}"], {})
        names = [m.filename for m in members]
        if len(set(names)) != len(names):
            return Checked(["a file name appears twice in the zip"], {})
        if big := [m.filename for m in members if m.file_size > MAX_MEMBER_BYTES]:
            return Checked([f"{big[0]} is larger than a pack's files may be"], {})
        contents = {m.filename: _read(archive, m) for m in members}
    problems: list[str] = []
    if MANIFEST not in contents:
        return Checked([f"{MANIFEST} is missing"], {})
    try:
        manifest = json.loads(contents[MANIFEST])
    except ValueError as exc:
        return Checked([f"{MANIFEST} is not JSON: {exc}"], {})
    listed = manifest.get("files") if isinstance(manifest, dict) else None
    if not isinstance(listed, dict) or not isinstance(manifest.get("audit"), dict):
        return Checked([f"{MANIFEST} lacks its `files` and `audit` objects"], {})
    if manifest.get("schema") != SCHEMA:
        problems.append(f"{MANIFEST}: schema {manifest.get('schema')!r}, expected {SCHEMA}")
    for name, expected in sorted(listed.items()):
        data = contents.get(name)
        if data is None:
            problems.append(f"{name} is listed in the manifest but missing from the pack")
            continue
        found = sha256(data)
        if not isinstance(expected, dict) or found != expected.get("sha256"):
            want = expected.get("sha256") if isinstance(expected, dict) else expected
            problems.append(
                f"{name} differs from the manifest: its SHA-256 is {found}, "
                f"the manifest says {want}"
            )
        elif len(data) != expected.get("bytes"):
            problems.append(f"{name} has {len(data)} bytes, the manifest says {expected['bytes']}")
    for name in sorted(set(contents) - set(listed) - {MANIFEST}):
        problems.append(f"{name} is in the pack but not in the manifest")
    if AUDIT in contents:
        problems.extend(_trail_problems(contents[AUDIT], manifest))
    return Checked(problems, manifest)


def _read(archive: zipfile.ZipFile, member: zipfile.ZipInfo) -> bytes:
    with archive.open(member) as stream:
        return stream.read(MAX_MEMBER_BYTES + 1)[:MAX_MEMBER_BYTES]


def _trail_problems(data: bytes, manifest: Mapping[str, Any]) -> list[str]:
    problems: list[str] = []
    entries: list[Entry] = []
    for number, line in enumerate(data.decode("utf-8", errors="replace").splitlines(), 1):
        try:
            entry = from_json(json.loads(line))
        except ValueError as exc:
            problems.append(f"{AUDIT} line {number}: {exc}")
            continue
        if digest(entry) != entry.hash:
            problems.append(
                f"{AUDIT} line {number}: event {entry.describe()} was changed: its content "
                "no longer matches its hash"
            )
        if entries and entry.seq <= entries[-1].seq:
            problems.append(f"{AUDIT} line {number}: event #{entry.seq} is out of order")
        if entry.run_id != manifest.get("run"):
            problems.append(f"{AUDIT} line {number}: event #{entry.seq} is of another run")
        entries.append(entry)
    audit = manifest["audit"]
    head = audit.get("run_head")
    last = _link(entries[-1] if entries else None)
    if head != last:
        problems.append(
            f"{AUDIT} ends at {_name(last)} but the manifest's run head is {_name(head)}: "
            "events were added or removed"
        )
    if audit.get("events") != len(entries):
        problems.append(
            f"{AUDIT} holds {len(entries)} events, the manifest says {audit.get('events')}"
        )
    return problems


def _name(link: Any) -> str:
    if not isinstance(link, dict):
        return "nothing"
    return f"#{link.get('seq')} {str(link.get('hash'))[:16]}…"
