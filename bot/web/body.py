"""A signed Slack body read the way Bolt reads it, once, at the edge.

Bolt decodes and parses the body, then reads user, team and channel ids out of it, without
guarding any step, so a body it cannot read (binary, ``payload=not-json{``,
``payload=[1]``, ``"user": 5``) would be a 500 with a traceback. Its request is built here
instead, with every error caught (a clear 400), and is the one Bolt dispatches: building
it again in Bolt's Starlette adapter, beside a parse of our own for deduplication's ids,
read every body three times (a tenth of a command's ack in a profile, issue 26)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from slack_bolt.request.async_request import AsyncBoltRequest


class Unreadable(ValueError):
    """The body is not a form or JSON object Bolt could dispatch."""


@dataclass(frozen=True)
class Parsed:
    payload: dict[str, Any]
    """The body as Bolt parsed it (deduplication reads its ids)."""
    bolt: AsyncBoltRequest
    """Bolt's request, to dispatch as it is."""


def parse(body: bytes, headers: Mapping[str, str], query: Mapping[str, str]) -> Parsed:
    """Bolt's request for a signed body (``query``: the URL's parameters, as Bolt's
    adapter gives them); Unreadable when Bolt could not build it."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise Unreadable("not UTF-8") from None
    try:
        request = AsyncBoltRequest(body=text, query=query, headers=headers)  # type: ignore[arg-type]
    except (ValueError, RecursionError):  # json.loads, Bolt's parse of the body
        raise Unreadable("not a form or a JSON object") from None
    except Exception as exc:  # Bolt's id extraction assumes Slack's shapes
        raise Unreadable(f"Bolt cannot read it ({type(exc).__name__})") from None
    if not isinstance(request.body, dict):
        raise Unreadable("the payload is not a JSON object")
    return Parsed(request.body, request)
