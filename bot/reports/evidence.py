"""Evidence packs: one zip with a run's HTML, JSON and JUnit reports, its audit trail, the
config it used (secrets redacted) and ``manifest.json``, which lists the SHA-256 of every
file and the audit chain's head, so that a pack can be checked long after the run; and
``manifest.sig``, the bot's Ed25519 signature of the manifest's exact bytes, so that a pack
rewritten consistently by someone without the bot's private key does not verify.

Building and checking are pure (bytes or a seekable stream in, bytes or problems out;
``pack_zip`` bounds what is read, ``pack_manifest`` what the manifest must hold); the CLI
reads and writes the files."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import IO, Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from bot.audit import keys
from bot.audit.chain import Entry
from bot.record.report import RunReport
from bot.reports.html import render_html
from bot.reports.json_report import render_json
from bot.reports.junit import render_junit
from bot.reports.pack_manifest import (
    AUDIT,
    MANIFEST,
    MAX_MANIFEST_BYTES,
    MAX_PROBLEMS,
    MAX_SIGNATURE_BYTES,
    SCHEMA,
    SIGNATURE,
    Signed,
    TrailCheck,
    parse_manifest,
    parse_signature,
    signature_json,
)
from bot.reports.pack_manifest import link_of as _link
from bot.reports.pack_zip import LIMITS, Limits, Malformed, describe, open_pack, read_small, stream

__all__ = ["AUDIT", "LIMITS", "MANIFEST", "SCHEMA", "SIGNATURE", "Limits", "Malformed"]

CONFIG = "config.yml"


@dataclass(frozen=True)
class ConfigUsed:
    path: str
    digest: str
    """SHA-256 of the file as read when the run started (``run.config_digest``)."""
    text: str | None
    """The file's text with secrets redacted, or None when it was not kept."""


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


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


def signed(files: Mapping[str, bytes], key: Ed25519PrivateKey) -> dict[str, bytes]:
    """``files`` and ``manifest.sig``: ``key``'s signature of the exact bytes of
    ``manifest.json`` (which holds every other file's SHA-256) and the key's fingerprint."""
    signature = keys.sign(key, files[MANIFEST])
    return {**files, SIGNATURE: signature_json(keys.fingerprint(key.public_key()), signature)}


@dataclass(frozen=True)
class Checked:
    problems: list[str]
    """What differs in a well-formed pack (tampering: exit 1)."""
    manifest: dict[str, Any]
    malformed: str | None = None
    """Why the file cannot be read as a pack at all (exit 2), on one line."""
    signed_by: str | None = None
    """The key fingerprint ``manifest.sig`` names, None for an unsigned pack."""
    signature_checked: bool = False
    """True when a public key was given and the signature verified with it."""

    @property
    def ok(self) -> bool:
        return self.malformed is None and not self.problems


def verify(
    pack: bytes | IO[bytes], key: Ed25519PublicKey | None = None, limits: Limits = LIMITS
) -> Checked:
    """Check a pack: its signature with ``key`` when given, every file against the
    manifest, no file unlisted, every audit event against its own hash, and the trail's
    last event against the manifest's run head. Reads within ``limits``, hashing as it
    streams; a file that is not a well-formed pack gives ``malformed``, never an error."""
    source = io.BytesIO(pack) if isinstance(pack, bytes) else pack
    try:
        with open_pack(source, limits) as archive:
            return _verify(archive, source, key, limits)
    except Malformed as exc:
        return Checked([], {}, malformed=str(exc))


def _verify(
    archive: zipfile.ZipFile, source: IO[bytes], key: Ed25519PublicKey | None, limits: Limits
) -> Checked:
    members = {member.filename: member for member in archive.infolist()}
    if MANIFEST not in members:
        raise Malformed(f"{MANIFEST} is missing")
    manifest_bytes = read_small(source, members[MANIFEST], MAX_MANIFEST_BYTES, limits)
    manifest = parse_manifest(manifest_bytes)
    sig = None
    if SIGNATURE in members:
        sig = parse_signature(read_small(source, members[SIGNATURE], MAX_SIGNATURE_BYTES, limits))
    listed: dict[str, Any] = manifest["files"]
    for name in sorted(listed):
        if name not in members:
            raise Malformed(f"{name} is listed in the manifest but missing from the pack")
    for name in sorted(members):
        if name not in listed and name not in (MANIFEST, SIGNATURE):
            raise Malformed(f"{describe(name)} is in the pack but not in the manifest")
    problems = _signature_problems(manifest_bytes, sig, key)
    checked = key is not None and not problems
    trail = TrailCheck(manifest["run"])
    for name, expected in sorted(listed.items()):
        sink = trail.feed if name == AUDIT else None
        found, size = stream(source, members[name], sink, limits)
        if found != expected["sha256"]:
            problems.append(
                f"{name} differs from the manifest: its SHA-256 is {found}, "
                f"the manifest says {expected['sha256']}"
            )
        elif size != expected["bytes"]:
            problems.append(f"{name} has {size} bytes, the manifest says {expected['bytes']}")
    problems.extend(trail.finish(manifest))
    if len(problems) > MAX_PROBLEMS + 1:
        problems[MAX_PROBLEMS:] = [f"… and {len(problems) - MAX_PROBLEMS} more problems"]
    signer = keys.fingerprint(key) if key is not None and checked else None
    signer = signer or (sig.key if sig else None)
    return Checked(problems, manifest, None, signer, checked)


def _signature_problems(
    manifest: bytes, sig: Signed | None, key: Ed25519PublicKey | None
) -> list[str]:
    """Nothing when no key was given (the caller says the signature was not checked)."""
    if key is None:
        return []
    if sig is None:
        return [f"the pack is unsigned (no {SIGNATURE}): nothing shows the bot wrote it"]
    if keys.verify(key, manifest, sig.signature):
        return []
    given = keys.fingerprint(key)
    if sig.key != given:
        return [f"{SIGNATURE} is by key {sig.key}, not by the given key {given}"]
    return [
        f"{SIGNATURE}: the signature by {given} does not match {MANIFEST}: "
        "the manifest was changed after it was signed"
    ]
