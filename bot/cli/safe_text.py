"""Text from outside (a target's body, a check's summary, a config value, a name typed in
Slack) made safe to print on a terminal. Pure.

A target answering ``\\x1b[2J\\x1b[32mFAKE OK`` cleared the screen of ``preprod check -v``
and painted its own verdict. Every character a terminal may act on instead of showing is
written as its escape, so it is seen rather than obeyed:

- C0 controls except newline and tab (ESC, CR, backspace, BEL, ...) and DEL: ``\\x1b``;
- C1 controls (U+0080-U+009F; some terminals read U+009B as CSI): ``\\x9b``;
- bidirectional formatting (U+061C, U+200E/F, U+202A-U+202E, U+2066-U+2069), which
  reorders what follows (a "Trojan Source" line reads differently from what it is):
  ``\\u202e``;
- the line and paragraph separators U+2028/U+2029 (a line break some terminals take);
- lone surrogates (a JSON ``"\\ud800"``), which cannot be encoded and would crash the
  print: ``\\ud800``.

An escape sequence is thus shown whole and harmless (``\\x1b[2J``). Backslashes are kept as
they are, so paths and regexes stay readable; the escapes are readable, and reversible for
text without backslashes. Reports (JSON, JUnit, HTML) keep the real text: they escape by
their own rules.
"""

from __future__ import annotations

__all__ = ["UNSAFE", "printable"]

BIDI = (0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A))
SEPARATORS = (0x2028, 0x2029)
UNSAFE: frozenset[int] = frozenset(
    (
        *(code for code in range(0x20) if chr(code) not in "\n\t"),
        *range(0x7F, 0xA0),
        *BIDI,
        *SEPARATORS,
        *range(0xD800, 0xE000),
    )
)
"""Code points never printed as they are."""


def _escape(code: int) -> str:
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


_TABLE = {code: _escape(code) for code in UNSAFE}


def printable(text: str) -> str:
    """``text`` with every character a terminal would act on written as its escape."""
    return text.translate(_TABLE)
