"""The sections of a runbook page: its headings, from Markdown (``## Rollback``) or HTML
(``<h2>Rollback</h2>``). Pure."""

from __future__ import annotations

import html
import re

_MARKDOWN = re.compile(r"^\s{0,3}#{1,6}\s+(.+?)\s*#*\s*$", re.MULTILINE)
_SETEXT = re.compile(r"^(\S.*)\n(?:=+|-+)\s*$", re.MULTILINE)
_HTML = re.compile(r"<h[1-6][^>]*>(.*?)</h[1-6]\s*>", re.IGNORECASE | re.DOTALL)
_TAG = re.compile(r"<[^>]+>")


def headings(text: str) -> list[str]:
    found = [m.group(1) for m in _MARKDOWN.finditer(text)]
    found += [m.group(1) for m in _SETEXT.finditer(text)]
    found += [html.unescape(_TAG.sub("", m.group(1))) for m in _HTML.finditer(text)]
    return [" ".join(h.split()) for h in found]


def missing_sections(text: str, sections: list[str]) -> list[str]:
    """The required sections no heading names (case-insensitive, as a whole word:
    "Rollback procedure" is a Rollback section)."""
    titles = headings(text)
    return [
        section
        for section in sections
        if not any(re.search(rf"(?i)\b{re.escape(section)}\b", title) for title in titles)
    ]
