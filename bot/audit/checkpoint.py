"""Chain checkpoints, pure: one line of text that publishes the trail's head (sequence
number and hash) at a time, signed when the bot has a key. Published outside the
database (a Slack channel, a file, a URL), they let ``preprod audit verify`` notice what
a forger with write access to the database can otherwise hide: a deleted tail, or
events rewritten and re-hashed to the end.

A line reads::

    preprod-checkpoint v1 seq=1234 head=9f2c…(64 hex) at=2026-12-06T06:00:00Z
        key=ed25519:0123456789abcdef sig=<base64>

(one line; ``key`` and ``sig`` only when signed). The signature covers the line up to
`` key=``, so neither the number, the hash nor the time can change unseen."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from bot.audit.chain import GENESIS, Entry
from bot.audit.keys import fingerprint, sign, verify

MARK = "preprod-checkpoint v1"
_LINE = re.compile(
    r"preprod-checkpoint v1 seq=(?P<seq>\d{1,18}) head=(?P<head>[0-9a-f]{64}) "
    r"at=(?P<at>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)"
    r"(?: key=(?P<key>ed25519:[0-9a-f]{16}) sig=(?P<sig>[A-Za-z0-9+/=]{1,200}))?"
)


@dataclass(frozen=True)
class Checkpoint:
    seq: int
    """The sequence number of the head (0: the trail was empty)."""
    head: str
    at: datetime
    key: str | None = None
    """The fingerprint of the key that signed it."""
    signature: str | None = None

    @property
    def payload(self) -> str:
        """What the signature covers."""
        return f"{MARK} seq={self.seq} head={self.head} at={_stamp(self.at)}"

    @property
    def line(self) -> str:
        if self.key is None or self.signature is None:
            return self.payload
        return f"{self.payload} key={self.key} sig={self.signature}"

    @property
    def name(self) -> str:
        """``checkpoint of 2026-12-06T06:00:00Z``: how problems refer to it."""
        return f"checkpoint of {_stamp(self.at)}"

    @property
    def short(self) -> str:
        """``audit #1234 · 9f2c…e1a0``."""
        return short_head(self.seq, self.head)


def short_head(seq: int, head: str) -> str:
    return f"audit #{seq} · {head[:4]}…{head[-4:]}"


def _stamp(at: datetime) -> str:
    aware = at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)
    return aware.strftime("%Y-%m-%dT%H:%M:%SZ")


def make(head: Entry | None, at: datetime, key: Ed25519PrivateKey | None = None) -> Checkpoint:
    """The checkpoint of ``head`` (None: an empty trail) at ``at``, signed with ``key``."""
    moment = (at.replace(tzinfo=UTC) if at.tzinfo is None else at).astimezone(UTC)
    unsigned = Checkpoint(
        head.seq if head else 0, head.hash if head else GENESIS, moment.replace(microsecond=0)
    )
    if key is None:
        return unsigned
    return Checkpoint(
        unsigned.seq,
        unsigned.head,
        unsigned.at,
        fingerprint(key.public_key()),
        sign(key, unsigned.payload.encode("utf-8")),
    )


def parse(text: str) -> Checkpoint:
    """The checkpoint in ``text`` (a line as written, or copied out of a Slack message);
    ValueError naming what is wrong."""
    found = _LINE.search(text)
    if found is None:
        if MARK in text:
            raise ValueError("a malformed checkpoint: expected seq=, head= (64 hex), at=")
        raise ValueError(f"no checkpoint: expected a line starting {MARK!r}")
    at = datetime.strptime(found["at"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    return Checkpoint(int(found["seq"]), found["head"], at, found["key"], found["sig"])


def read_lines(lines: Iterable[str]) -> tuple[list[Checkpoint], list[str]]:
    """Every checkpoint in ``lines`` (other lines are ignored), and the problems of lines
    that carry the mark but cannot be read (``line 3: ...``)."""
    found: list[Checkpoint] = []
    problems: list[str] = []
    for number, line in enumerate(lines, start=1):
        if MARK not in line:
            continue
        try:
            found.append(parse(line))
        except ValueError as exc:
            problems.append(f"line {number}: {exc}")
    return found, problems


def signature_problem(checkpoint: Checkpoint, public: Ed25519PublicKey) -> str | None:
    """Why ``checkpoint`` is not vouched for by ``public``; None when its signature holds."""
    expected = fingerprint(public)
    where = f"{checkpoint.name} (#{checkpoint.seq})"
    if checkpoint.signature is None or checkpoint.key is None:
        return f"{where} is not signed"
    if checkpoint.key != expected:
        return f"{where} is signed by {checkpoint.key}, not by the key given ({expected})"
    if not verify(public, checkpoint.payload.encode("utf-8"), checkpoint.signature):
        return f"{where} is forged: its signature does not verify with {expected}"
    return None


def chain_problem(checkpoint: Checkpoint, event: Entry | None, last: Entry | None) -> str | None:
    """What the trail lost since ``checkpoint`` was published: ``event`` is the stored event
    at its sequence number (None: no such row), ``last`` the trail's last event. None when
    the trail still holds the head it published."""
    if checkpoint.seq == 0:
        return None
    if event is None:
        if last is None or last.seq < checkpoint.seq:
            end = f"#{last.seq}" if last else "nothing (it is empty)"
            return f"the trail ends at {end} but {checkpoint.name} saw #{checkpoint.seq}"
        return (
            f"event #{checkpoint.seq} is missing, {checkpoint.name} published it with hash "
            f"{checkpoint.head}"
        )
    if event.hash != checkpoint.head:
        return (
            f"event #{event.seq}'s hash is {event.hash}, {checkpoint.name} published "
            f"{checkpoint.head}"
        )
    return None
