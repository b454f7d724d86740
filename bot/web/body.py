"""A signed Slack body read the way Bolt reads it, once, at the edge.

Bolt decodes and parses the body, then reads user, team and channel ids out of it, without
guarding any step, so a body it cannot read (binary, ``payload=not-json{``,
``payload=[1]``, ``"user": 5``) would be a 500 with a traceback. Reading it here first,
Bolt's own request included, turns that into a clear 400, and gives deduplication its ids."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl

from slack_bolt.request.async_request import AsyncBoltRequest


class Unreadable(ValueError):
    """The body is not a form or JSON object Bolt could dispatch."""


def parse(body: bytes, headers: Mapping[str, str]) -> dict[str, Any]:
    """The payload as Bolt will see it; Unreadable when Bolt could not build its request."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise Unreadable("not UTF-8") from None
    payload = _payload(text, headers.get("content-type", "").split(";")[0] or None)
    try:
        AsyncBoltRequest(body=text, headers=dict(headers))
    except Exception as exc:  # Bolt's id extraction assumes Slack's shapes
        raise Unreadable(f"Bolt cannot read it ({type(exc).__name__})") from None
    return payload


def _payload(text: str, content_type: str | None) -> dict[str, Any]:
    """The rules of ``slack_bolt.request.internals.parse_body``, with errors caught."""
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
