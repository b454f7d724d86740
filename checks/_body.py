"""Reading a response body without trusting the server: streamed, kept up to a limit
(``max_body``), decompressed with a bound on the output and stopped at a deadline, so a
50 MB page, an endless chunked stream or a gzip bomb costs the memory of a small page.
(Reading ``response.content`` whole once took 685 MB for one 50 MB body.)"""

from __future__ import annotations

import asyncio
import codecs
import email.message
import functools
import json
import zlib
from dataclasses import dataclass
from typing import Any

import httpx

from checks._http_options import DEFAULT_MAX_BODY as DEFAULT_MAX_BODY
from checks.units import format_size

SAFE_ENCODINGS = "gzip, deflate"
"""The ``Accept-Encoding`` we send: encodings whose output we can bound while
decompressing (httpx's brotli and zstd decoders would inflate a whole chunk at once)."""

_ZLIB_CODINGS = frozenset({"gzip", "x-gzip", "deflate"})


class TruncatedBody(ValueError):
    """The body was cut short, so it cannot be parsed as a whole (JSON)."""


@dataclass(frozen=True)
class Body:
    """What was kept of a body: at most ``max_body`` bytes, and why it stops early."""

    data: bytes
    charset: str = "utf-8"
    truncated: str | None = None
    """Why the body is incomplete (``at 1 MB (max_body)``), None when it is whole."""
    undecoded: str = ""
    """A ``Content-Encoding`` we did not ask for and kept as it came (``br``)."""

    @property
    def text(self) -> str:
        return self.data.decode(self.charset, errors="replace")

    def json(self) -> Any:
        """The parsed JSON; :class:`TruncatedBody` when only part of it was kept (a cut
        document would only give a confusing syntax error), ``ValueError`` when not JSON."""
        if self.truncated:
            raise TruncatedBody(f"body truncated {self.truncated}")
        if self.undecoded:
            raise ValueError(f"body is {self.undecoded}-encoded")
        try:
            return json.loads(self.data)
        except RecursionError as exc:  # "[[[[..." nested beyond the parser's stack
            raise ValueError("JSON nested too deeply") from exc

    def notes(self) -> list[str]:
        """Evidence lines saying what the kept body is not."""
        notes = [f"body truncated {self.truncated}"] if self.truncated else []
        if self.undecoded:
            notes.append(f"body left {self.undecoded}-encoded (not an encoding preprod asks for)")
        return notes


class _Decoder:
    """Undoes ``Content-Encoding`` with a cap on each call's output. An encoding we did
    not ask for (and cannot bound) is kept raw rather than inflated."""

    def __init__(self, content_encoding: str) -> None:
        codings = [
            c.strip().lower()
            for c in content_encoding.split(",")
            if c.strip() and c.strip().lower() != "identity"
        ]
        self.name = ", ".join(codings)
        self.raw = len(codings) > 1 or (bool(codings) and codings[0] not in _ZLIB_CODINGS)
        # wbits 47: a gzip or a zlib header, detected (servers mix up "deflate").
        self._zlib = zlib.decompressobj(47) if codings and not self.raw else None

    def feed(self, chunk: bytes, room: int) -> bytes:
        """At most ``room + 1`` bytes of output: one more than fits says "there is more"."""
        if self._zlib is None:
            return chunk[: room + 1]
        return self._zlib.decompress(chunk, room + 1)


def _charset(response: httpx.Response) -> str:
    return _charset_of(response.headers.get("content-type"))


@functools.lru_cache(maxsize=256)
def _charset_of(content_type: str | None) -> str:
    """A ``Content-Type``'s charset as httpx reads it (``Response.charset_encoding``),
    or UTF-8 when it names none or one Python does not know; parsed once a header value,
    not at every response (an email message each time, bench/engine.py)."""
    if content_type is None:
        return "utf-8"
    message = email.message.Message()
    message["content-type"] = content_type
    name = message.get_content_charset(failobj=None) or "utf-8"
    try:
        codecs.lookup(name)
    except LookupError:
        return "utf-8"
    return name


async def read_body(response: httpx.Response, limit: int, deadline_s: float) -> Body:
    """Read a streamed response's body, keeping at most ``limit`` bytes (decoded), for at
    most ``deadline_s`` seconds; the response is closed either way (an unread rest makes
    httpx drop the connection instead of reusing it)."""
    decoder = _Decoder(response.headers.get("content-encoding", ""))
    kept = bytearray()
    truncated: str | None = None
    try:
        async with asyncio.timeout(deadline_s):
            async for chunk in response.aiter_raw():
                kept += decoder.feed(chunk, limit - len(kept))
                if len(kept) > limit:
                    truncated = f"at {format_size(limit)} (max_body)"
                    break
    except TimeoutError:
        truncated = f"after {deadline_s:g} s (the server was still sending)"
    except zlib.error:
        truncated = f"where its {decoder.name} data stopped making sense"
    finally:
        await response.aclose()
    del kept[limit:]
    undecoded = decoder.name if decoder.raw else ""
    return Body(bytes(kept), _charset(response), truncated, undecoded)
