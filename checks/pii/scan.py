"""Where findings sit in a response: every header, every string of a JSON document under
its JSON path, every line of any other body; and the links a page offers (HTML ``href``
and ``src``, JSON strings that are paths) for the crawl. Pure functions."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx

from checks.pii.detectors import Hit, scan_text

MAX_VALUES = 20_000
"""Strings looked at in one JSON document: a bound on a hostile or huge answer."""
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_HTML_LINK = re.compile(r"""(?i)\b(?:href|src)\s*=\s*["']([^"'#>\s]+)""")
_SKIPPED_HEADERS = frozenset({"date", "content-length", "content-type", "etag"})


@dataclass(frozen=True)
class Located:
    """A finding and where: ``GET /api/customers/1 $.payment.card``."""

    hit: Hit
    page: str
    where: str

    def line(self) -> str:
        return f"{self.page} {self.where}: {self.hit.kind} {self.hit.masked}"


def json_strings(document: Any) -> Iterator[tuple[str, str, str]]:
    """(JSON path, key, text) of every string and number in the document, at most
    ``MAX_VALUES`` of them; ``key`` is the nearest object key (a phone number's hint)."""
    stack: list[tuple[str, str, Any]] = [("$", "", document)]
    seen = 0
    while stack and seen < MAX_VALUES:
        path, key, value = stack.pop()
        if isinstance(value, dict):
            for k, v in reversed(list(value.items())):
                child = f"{path}.{k}" if _IDENTIFIER.match(str(k)) else f"{path}[{json.dumps(k)}]"
                stack.append((child, str(k), v))
        elif isinstance(value, list):
            stack.extend((f"{path}[{i}]", key, v) for i, v in reversed(list(enumerate(value))))
        elif isinstance(value, str | int | float) and not isinstance(value, bool):
            seen += 1
            yield path, key, str(value)


def scan_response(
    page: str, response: httpx.Response, text: str, kinds: frozenset[str]
) -> list[Located]:
    """Findings in the response's headers and body."""
    found: list[Located] = []
    for name, value in response.headers.multi_items():
        if name.lower() not in _SKIPPED_HEADERS:
            found += [Located(h, page, f"header {name}") for h in scan_text(value, kinds, name)]
    document = _json(response, text)
    if document is not None:
        for path, key, value in json_strings(document):
            found += [Located(h, page, path) for h in scan_text(value, kinds, key)]
        return found
    for number, line in enumerate(text.splitlines()[:MAX_VALUES], 1):
        found += [Located(h, page, f"body line {number}") for h in scan_text(line, kinds)]
    return found


def links(response: httpx.Response, text: str) -> list[str]:
    """Paths this page points to, as written (resolved against the page by the caller)."""
    document = _json(response, text)
    if document is not None:
        return [v for _, _, v in json_strings(document) if v.startswith("/") and " " not in v]
    if "html" in response.headers.get("content-type", ""):
        return _HTML_LINK.findall(text)
    return []


def _json(response: httpx.Response, text: str) -> Any:
    kind = response.headers.get("content-type", "")
    if "json" not in kind:
        return None
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return None
