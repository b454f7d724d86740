"""The sections of a runbook page: its headings, from Markdown (``## Rollback``, parsed
as CommonMark, so a ``# Rollback`` comment in a fenced code block is code, not a heading)
or from an HTML page (``<h2>Rollback</h2>``, outside ``<pre>``/``<code>``). Pure."""

from __future__ import annotations

import html
import re

_HTML = re.compile(r"<h[1-6][^>]*>(.*?)</h[1-6]\s*>", re.IGNORECASE | re.DOTALL)
_HTML_CODE = re.compile(r"<(pre|code|script|style)\b.*?</\1\s*>|<!--.*?-->", re.I | re.DOTALL)
_TAG = re.compile(r"<[^>]+>")
_HTML_PAGE = re.compile(r"^\s*<(?:!doctype|html|head|body)\b", re.IGNORECASE)


def _html_headings(text: str) -> list[str]:
    text = _HTML_CODE.sub("", text)
    return [html.unescape(_TAG.sub("", m.group(1))) for m in _HTML.finditer(text)]


def headings(text: str) -> list[str]:
    """Every heading's text, in page order, whitespace collapsed."""
    if _HTML_PAGE.match(text):
        found = _html_headings(text)
    else:
        from markdown_it import MarkdownIt  # at use: `config validate` never needs it

        found = []
        tokens = MarkdownIt("commonmark").parse(text)
        for index, token in enumerate(tokens):
            if token.type == "heading_open":
                found.append(tokens[index + 1].content)
            elif token.type == "html_block":  # raw HTML inside Markdown
                found += _html_headings(token.content)
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
