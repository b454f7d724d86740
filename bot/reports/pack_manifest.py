"""What an evidence pack's ``manifest.json``, ``manifest.sig`` and ``audit.jsonl`` must
look like, checked without trusting them: wrong types are a one-line ``Malformed``, never a
``KeyError`` further on. Pure: bytes in, plain values or problems out."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bot.audit.chain import Entry, digest, from_json
from bot.reports.pack_zip import SAFE_NAME, KiB, Malformed, MiB, one_line

SCHEMA = "preprod.evidence/1"
MANIFEST = "manifest.json"
SIGNATURE = "manifest.sig"
AUDIT = "audit.jsonl"
REQUIRED = ("report.html", "report.json", "report.junit.xml", AUDIT)
MAX_MANIFEST_BYTES = 1 * MiB
MAX_SIGNATURE_BYTES = 4 * KiB
MAX_EVENT_BYTES = 1 * MiB
"""Longest line of ``audit.jsonl`` (an event's texts are cut at 2,000 characters)."""
MAX_LINES = 100_000
"""Lines of ``audit.jsonl`` read at most (a run's trail is hundreds of events)."""
MAX_PROBLEMS = 20
"""Problems of the trail named one by one; past this, reading it stops."""

_SHA256 = re.compile(r"[0-9a-f]{64}\Z")


def parse_manifest(data: bytes) -> dict[str, Any]:
    """The manifest as a dict whose fields ``verify`` reads have the right types."""
    try:
        manifest = json.loads(data)
    except (ValueError, RecursionError) as exc:
        raise Malformed(f"{MANIFEST} is not JSON: {one_line(str(exc), 120)}") from None
    if not isinstance(manifest, dict):
        raise Malformed(f"{MANIFEST} is a JSON {type(manifest).__name__}, not an object")
    if manifest.get("schema") != SCHEMA:
        raise Malformed(f"{MANIFEST}: schema {_shown(manifest.get('schema'))}, expected {SCHEMA}")
    _field(manifest, "run", int)
    for key in ("service", "version", "environment", "created_at"):
        _field(manifest, key, str)
    _field(manifest, "decision", str, optional=True)
    files = _field(manifest, "files", dict)
    for name, listed in files.items():
        if not SAFE_NAME.match(name) or name in (MANIFEST, SIGNATURE):
            raise Malformed(f"{MANIFEST} lists a file named {name[:100]!r}")
        where = f"files.{name}"
        if not isinstance(listed, dict):
            raise Malformed(f"{MANIFEST}: `{where}` is {_kind(listed)}, expected an object")
        if not isinstance(listed.get("sha256"), str) or not _SHA256.match(listed["sha256"]):
            raise Malformed(f"{MANIFEST}: `{where}.sha256` is not 64 lowercase hex digits")
        _field(listed, "bytes", int, where=where)
    for name in REQUIRED:
        if name not in files:
            raise Malformed(f"{MANIFEST} does not list {name}")
    audit = _field(manifest, "audit", dict)
    _field(audit, "events", int, where="audit")
    for key in ("run_head", "chain_head"):
        link = _field(audit, key, dict, where="audit", optional=True)
        if link is not None:
            _field(link, "seq", int, where=f"audit.{key}")
            _field(link, "hash", str, where=f"audit.{key}")
    return manifest


def _field(
    data: Mapping[str, Any], key: str, kind: type, *, where: str = "", optional: bool = False
) -> Any:
    path = f"{where}.{key}" if where else key
    if key not in data:
        raise Malformed(f"{MANIFEST} lacks `{path}`")
    value = data[key]
    if value is None and optional:
        return None
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        want = {int: "an integer", str: "a string", dict: "an object"}[kind]
        raise Malformed(f"{MANIFEST}: `{path}` is {_kind(value)}, expected {want}")
    if isinstance(value, int) and value < 0:
        raise Malformed(f"{MANIFEST}: `{path}` is negative")
    return value


def _kind(value: Any) -> str:
    names = {str: "a string", int: "an integer", float: "a number", bool: "a boolean"}
    names |= {list: "a list", dict: "an object", type(None): "null"}
    return names.get(type(value), type(value).__name__)


def _shown(value: Any) -> str:
    return one_line(repr(value), 80)


@dataclass(frozen=True)
class Signed:
    """``manifest.sig``: who signed the manifest's exact bytes, and the signature."""

    key: str
    """The signing key's fingerprint (``ed25519:<16 hex>``); a label, not trusted."""
    signature: str
    """Base64 Ed25519 signature of ``manifest.json`` as stored in the zip."""


def parse_signature(data: bytes) -> Signed:
    try:
        parsed = json.loads(data)
    except (ValueError, RecursionError) as exc:
        raise Malformed(f"{SIGNATURE} is not JSON: {one_line(str(exc), 120)}") from None
    if not isinstance(parsed, dict) or parsed.get("algorithm") != "ed25519":
        raise Malformed(f"{SIGNATURE} is not an ed25519 signature object")
    key, signature = parsed.get("key"), parsed.get("signature")
    if (
        parsed.get("signs") != MANIFEST
        or not isinstance(key, str)
        or not isinstance(signature, str)
    ):
        raise Malformed(f"{SIGNATURE} lacks `signs`: {MANIFEST}, `key` or `signature` strings")
    return Signed(key=one_line(key, 40), signature=signature)


def signature_json(key: str, signature: str) -> bytes:
    """The bytes of ``manifest.sig``."""
    signed = {"algorithm": "ed25519", "key": key, "signature": signature, "signs": MANIFEST}
    return (json.dumps(signed, indent=2, sort_keys=True) + "\n").encode()


class TrailCheck:
    """``audit.jsonl`` checked as it streams: every event against its own hash, in order,
    of the manifest's run, the last one against the manifest's run head. Keeps only the
    partial line and the last event, so a long trail costs no more memory than a short
    one; at most ``MAX_LINES`` lines, and past ``MAX_PROBLEMS`` problems lines are only
    counted, so a trail of junk costs no more time than a real one."""

    def __init__(self, run: int) -> None:
        self.run = run
        self.problems: list[str] = []
        self.lines = 0
        self.events = 0
        self.last: Entry | None = None
        self._partial = bytearray()

    @property
    def stopped(self) -> bool:
        return len(self.problems) >= MAX_PROBLEMS

    def feed(self, chunk: bytes) -> None:
        self._partial += chunk
        *lines, rest = bytes(self._partial).split(b"\n")
        if len(rest) > MAX_EVENT_BYTES:
            number = self.lines + len(lines) + 1
            raise Malformed(f"{AUDIT} line {number} is over {MAX_EVENT_BYTES} bytes")
        self._partial = bytearray(rest)
        if self.lines + len(lines) > MAX_LINES:
            raise Malformed(f"{AUDIT} has more than {MAX_LINES} lines; a run's trail is shorter")
        if self.stopped:
            self.lines += len(lines)
            return
        for line in lines:
            self._line(line)

    def finish(self, manifest: Mapping[str, Any]) -> list[str]:
        """Every problem found, the run head and event count compared last."""
        if self._partial:
            self._line(bytes(self._partial))
            self._partial.clear()
        if self.stopped:
            return [*self.problems, f"… {AUDIT} was read no further ({self.lines} lines)"]
        audit = manifest["audit"]
        head, last = audit["run_head"], link_of(self.last)
        if head != last:
            self._problem(
                f"{AUDIT} ends at {_name(last)} but the manifest's run head is {_name(head)}: "
                "events were added or removed"
            )
        if audit["events"] != self.events:
            said = audit["events"]
            self._problem(f"{AUDIT} holds {self.events} events, the manifest says {said}")
        return self.problems

    def _line(self, raw: bytes) -> None:
        self.lines += 1
        if self.stopped or not raw.strip():
            return
        self.events += 1
        number = self.lines
        try:
            entry = from_json(json.loads(raw))
            if digest(entry) != entry.hash:
                self._problem(
                    f"{AUDIT} line {number}: event {one_line(entry.describe(), 200)} was changed: "
                    "its content no longer matches its hash"
                )
        except (ValueError, TypeError, OverflowError, RecursionError) as exc:
            self._problem(f"{AUDIT} line {number}: {one_line(str(exc), 160)}")
            return
        if self.last is not None and entry.seq <= self.last.seq:
            self._problem(f"{AUDIT} line {number}: event #{entry.seq} is out of order")
        if entry.run_id != self.run:
            self._problem(f"{AUDIT} line {number}: event #{entry.seq} is of another run")
        self.last = entry

    def _problem(self, text: str) -> None:
        if not self.stopped:
            self.problems.append(text)


def link_of(entry: Entry | None) -> dict[str, Any] | None:
    return {"seq": entry.seq, "hash": entry.hash} if entry is not None else None


def _name(link: Any) -> str:
    if not isinstance(link, dict):
        return "nothing"
    return f"#{one_line(str(link.get('seq')), 24)} {one_line(str(link.get('hash'))[:16])}…"
