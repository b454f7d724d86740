"""Reading a zip that claims to be an evidence pack within fixed bounds, so that a hostile
file (a zip bomb, sizes that lie, a central directory of millions of entries, names that
climb out of a folder) is refused with one line instead of filling memory or ending in a
traceback. Declared sizes are checked first (central directory), then bytes are counted
while streaming, because declared sizes can lie. Pure: a seekable binary stream in,
hashes and bytes out; opening the file is the caller's."""

from __future__ import annotations

import hashlib
import re
import struct
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import IO

KiB, MiB = 1024, 1024 * 1024


class Malformed(ValueError):
    """The file cannot be read as an evidence pack: the message says why, on one line."""


@dataclass(frozen=True)
class Limits:
    """What ``verify`` reads at most. A pack is a handful of text files."""

    members: int = 16
    member_bytes: int = 64 * MiB
    total_bytes: int = 256 * MiB
    ratio: int = 200
    """Uncompressed over compressed size, for members above ``ratio_floor``."""
    ratio_floor: int = 1 * MiB
    directory_bytes: int = 256 * KiB
    chunk: int = 64 * KiB


LIMITS = Limits()

ZIP_ERRORS = (
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    zlib.error,
    struct.error,
    EOFError,
    OSError,
    ValueError,
    NotImplementedError,
    RuntimeError,
    OverflowError,
    KeyError,
    IndexError,
)
"""What the zipfile module raises on a damaged archive (bad CRC, truncated data, bad
headers, encrypted members, unknown compression)."""

SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}\Z")
"""A pack's member names are plain file names: no folders, no ``..``, no drive letters."""

_END = struct.Struct("<4s4H2LH")
_END_SIGNATURE, _ZIP64_LOCATOR = b"PK\x05\x06", b"PK\x06\x07"
_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08")
_COMMENT_MAX = 0xFFFF


def describe(name: str) -> str:
    """A member name fit for one line of output (quoted and escaped unless plain)."""
    return name if SAFE_NAME.match(name) else repr(name[:100])


def open_pack(source: IO[bytes], limits: Limits = LIMITS) -> zipfile.ZipFile:
    """The archive, once its central directory is within ``limits`` and every member
    is a plain, unique, unencrypted, stored or deflated file of bounded declared size."""
    _check_end_record(source, limits)
    try:
        archive = zipfile.ZipFile(source)
    except ZIP_ERRORS as exc:
        raise Malformed(f"not a readable zip file: {_text(exc)}") from None
    try:
        _check_members(archive.infolist(), limits)
    except Malformed:
        archive.close()
        raise
    return archive


def _check_end_record(source: IO[bytes], limits: Limits) -> None:
    """Find the end-of-central-directory record the way ``zipfile`` does and refuse a
    directory too large to parse (zipfile reads it whole) or a zip64 one (a pack never
    needs it, and zipfile would trust its counts instead)."""
    size = source.seek(0, 2)
    if size < _END.size:
        raise Malformed(f"not a zip file: {size} bytes, shorter than a zip's end record")
    window = min(size, _END.size + _COMMENT_MAX + 1 + 20)
    source.seek(size - window)
    tail = source.read(window)
    if tail[-_END.size : -_END.size + 4] == _END_SIGNATURE and tail[-2:] == b"\0\0":
        at = len(tail) - _END.size
    else:
        at = tail.rfind(_END_SIGNATURE, max(0, len(tail) - _END.size - _COMMENT_MAX - 1))
    if at < 0 or at + _END.size > len(tail):
        raise Malformed("not a zip file: no end of central directory record")
    if at >= 20 and tail[at - 20 : at - 16] == _ZIP64_LOCATOR:
        raise Malformed("a zip64 archive; a pack is small and never needs zip64")
    _, _, _, _, entries, directory_bytes, _, _ = _END.unpack(tail[at : at + _END.size])
    if entries > limits.members:
        raise Malformed(f"{entries} files in the zip; a pack holds at most {limits.members}")
    if directory_bytes > limits.directory_bytes:
        raise Malformed(
            f"a central directory of {directory_bytes} bytes; a pack's is at most "
            f"{limits.directory_bytes}"
        )
    source.seek(0)


def _check_members(members: list[zipfile.ZipInfo], limits: Limits) -> None:
    if len(members) > limits.members:
        raise Malformed(f"{len(members)} files in the zip; a pack holds at most {limits.members}")
    seen: set[str] = set()
    total = 0
    for member in members:
        name = member.orig_filename
        if name != member.filename or not SAFE_NAME.match(name):
            raise Malformed(f"a file named {name[:100]!r}; a pack's files have plain names")
        if name in seen:
            raise Malformed(f"{name} appears twice in the zip")
        seen.add(name)
        if member.flag_bits & 0x1:
            raise Malformed(f"{name} is encrypted")
        if member.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise Malformed(f"{name} uses compression method {member.compress_type}")
        if member.file_size > limits.member_bytes:
            raise Malformed(
                f"{name} declares {member.file_size} bytes; a pack's files hold at most "
                f"{limits.member_bytes}"
            )
        ratio = member.file_size / max(member.compress_size, 1)
        if member.file_size > limits.ratio_floor and ratio > limits.ratio:
            raise Malformed(f"{name} expands {ratio:.0f} times; at most {limits.ratio} is read")
        total += member.file_size
    if total > limits.total_bytes:
        raise Malformed(
            f"the files declare {total} bytes; a pack holds at most {limits.total_bytes}"
        )


def stream(
    source: IO[bytes],
    member: zipfile.ZipInfo,
    sink: Callable[[bytes], None] | None = None,
    limits: Limits = LIMITS,
) -> tuple[str, int]:
    """The member's SHA-256 and size. Its compressed bytes are read from ``source`` a chunk
    at a time and inflated at most a chunk at a time (each piece also goes to ``sink``):
    more bytes than it declares, fewer, data past the end of its deflate stream or a CRC
    that differs are ``Malformed`` as soon as they show, so a lying size costs no memory."""
    counted = _Counted(member, sink)
    try:
        pieces = _compressed(source, member, limits.chunk)
        if member.compress_type == zipfile.ZIP_STORED:
            for piece in pieces:
                counted.add(piece)
            return counted.done()
        inflater = zlib.decompressobj(-zlib.MAX_WBITS)
        for piece in pieces:
            pending = piece
            while pending and not inflater.eof:
                counted.add(inflater.decompress(pending, limits.chunk))
                pending = inflater.unconsumed_tail
            if inflater.eof and (pending or inflater.unused_data):
                raise Malformed(f"{member.filename} has data past the end of its compressed stream")
        if not inflater.eof:
            raise Malformed(f"{member.filename}'s compressed stream is cut short")
    except (zlib.error, OSError, ValueError, OverflowError) as exc:
        if isinstance(exc, Malformed):
            raise
        raise Malformed(f"{member.filename} cannot be read: {_text(exc)}") from None
    return counted.done()


_LOCAL = struct.Struct("<4s5H3L2H")
_LOCAL_SIGNATURE = b"PK\x03\x04"


def _compressed(source: IO[bytes], member: zipfile.ZipInfo, chunk: int) -> Iterator[bytes]:
    """The member's stored bytes, after checking that its local header is where the
    central directory says and names the same file the same way."""
    name = member.filename
    source.seek(member.header_offset)
    header = source.read(_LOCAL.size)
    if len(header) != _LOCAL.size or header[:4] != _LOCAL_SIGNATURE:
        raise Malformed(f"{name}: no local file header where the central directory points")
    _, _, flags, method, _, _, _, _, _, name_length, extra_length = _LOCAL.unpack(header)
    if source.read(name_length) != name.encode("ascii"):
        raise Malformed(f"{name}: its local header names another file")
    if method != member.compress_type or flags & 0x1:
        raise Malformed(f"{name}: its local header disagrees with the central directory")
    source.seek(extra_length, 1)
    left = member.compress_size
    while left > 0:
        data = source.read(min(chunk, left))
        if not data:
            raise Malformed(f"{name} is cut short: the zip ends inside it")
        left -= len(data)
        yield data


class _Counted:
    """SHA-256, CRC-32 and size of a member's bytes as they stream, refused at the first
    byte past its declared size or when it opens as a zip of its own."""

    def __init__(self, member: zipfile.ZipInfo, sink: Callable[[bytes], None] | None) -> None:
        self.member, self.sink = member, sink
        self.sha, self.crc, self.count, self.head = hashlib.sha256(), 0, 0, b""

    def add(self, data: bytes) -> None:
        name = self.member.filename
        if len(self.head) < 4:
            self.head += data[: 4 - len(self.head)]
            if self.head in _ZIP_MAGIC:
                raise Malformed(f"{name} is itself a zip archive; a pack's files are text")
        self.count += len(data)
        if self.count > self.member.file_size:
            raise Malformed(f"{name} holds more than the {self.member.file_size} bytes it declares")
        self.sha.update(data)
        self.crc = zlib.crc32(data, self.crc)
        if self.sink is not None:
            self.sink(data)

    def done(self) -> tuple[str, int]:
        name, declared = self.member.filename, self.member.file_size
        if self.count != declared:
            raise Malformed(f"{name} holds {self.count} bytes but declares {declared}")
        if self.crc != self.member.CRC:
            raise Malformed(f"{name} fails its CRC-32 check: the zip is damaged")
        return self.sha.hexdigest(), self.count


def read_small(
    source: IO[bytes], member: zipfile.ZipInfo, cap: int, limits: Limits = LIMITS
) -> bytes:
    """A member that is read whole (the manifest, its signature), at most ``cap`` bytes."""
    if member.file_size > cap:
        raise Malformed(f"{member.filename} declares {member.file_size} bytes; at most {cap}")
    parts: list[bytes] = []
    stream(source, member, parts.append, limits)
    return b"".join(parts)


def _text(exc: BaseException) -> str:
    """An exception as one short line (zipfile's messages may quote the file's bytes)."""
    text = str(exc) or type(exc).__name__
    return one_line(text)


def one_line(text: str, limit: int = 300) -> str:
    """``text`` with control characters escaped and cut to ``limit`` characters, so
    nothing read from a pack can break a line or drive a terminal."""
    escaped = "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in text)
    return escaped if len(escaped) <= limit else escaped[: limit - 1] + "…"
