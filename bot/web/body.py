"""A signed Slack body read the way Bolt reads it, once, at the edge.

Bolt decodes and parses the body without guarding either step, so a body it cannot read
(binary, ``payload=not-json{``, ``payload=[1]``) would be a 500 with a traceback. Parsing
it here first turns that into a clear 400, and gives the deduplication its ids."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl


class Unreadable(ValueError):
    """The body is not a form or JSON object Bolt could dispatch."""


def parse(body: bytes, content_type: str | None) -> dict[str, Any]:
    """The payload as Bolt will see it (the rules of ``slack_bolt.request.internals``)."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise Unreadable("not UTF-8") from None
    if not text:
        return {}
    try:
        if content_type == "application/json" or text.startswith("{"):
            return _object(json.loads(text))
        fields = dict(parse_qsl(text, keep_blank_values=True))
        if "payload" in text:
            payload = fields.get("payload")
            return {} if payload is None else _object(json.loads(payload))
        return fields
    except (ValueError, RecursionError):
        raise Unreadable("not a form or a JSON object") from None


def _object(value: object) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise Unreadable("the payload is not a JSON object")
    return value
