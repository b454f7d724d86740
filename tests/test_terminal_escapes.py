"""What a target, a check or a person wrote never acts on the terminal: control
characters, escape sequences and bidi overrides are shown escaped (``\\x1b[2J``), by the
pure ``printable`` and by every console the CLI prints through; JSON reports keep the real
text. End to end: a target answering ``\\x1b[2J\\x1b[32mFAKE OK`` under ``preprod check -v``
and ``preprod show -v``."""

from __future__ import annotations

import io
import logging
import re
import unicodedata
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from rich.console import Console

from bot.cli.common import SafeConsole, SafeFormatter, consoles, plain, say
from bot.cli.console import TerminalProgress
from bot.cli.safe_text import UNSAFE, printable
from bot.engine.events import CheckProgressed, CheckStarted, PlannedCheck, RunStarted
from checks.context import ProgressEvent
from tests.cli import run_cli
from tests.support.local_http import serving

HOSTILE = "\x1b[2J\x1b[32mFAKE OK"
BIDI = "\u202e"


def restore(text: str) -> str:
    """The inverse of ``printable`` for text that had no backslash."""
    return re.sub(
        r"\\x([0-9a-f]{2})|\\u([0-9a-f]{4})",
        lambda m: chr(int(m.group(1) or m.group(2), 16)),
        text,
    )


def shown_as_is(ch: str) -> bool:
    """What a terminal shows rather than obeys (newline and tab are layout)."""
    code = ord(ch)
    if ch in "\n\t":
        return True
    category = unicodedata.category(ch)
    return category not in ("Cc", "Cs") and code not in UNSAFE


@given(st.text(alphabet=st.characters(codec=None)))
def test_printable_leaves_nothing_a_terminal_acts_on(text: str) -> None:
    out = printable(text)
    assert all(shown_as_is(ch) for ch in out)
    assert out.encode("utf-8") is not None  # lone surrogates escaped: printing cannot crash
    if "\\" not in text:
        assert restore(out) == text


@given(st.text(alphabet=st.characters(blacklist_characters="\\", codec=None)))
def test_safe_text_is_unchanged(text: str) -> None:
    safe = "".join(ch for ch in text if shown_as_is(ch))
    assert printable(safe) == safe


def test_the_escapes_read_like_python() -> None:
    assert printable(HOSTILE) == "\\x1b[2J\\x1b[32mFAKE OK"
    assert printable(f"a{BIDI}b\r\n\tc\x7f\x9b\u2028") == "a\\u202eb\\x0d\n\tc\\x7f\\x9b\\u2028"
    assert printable("C:\\temp é ✓ 日本") == "C:\\temp é ✓ 日本"


def _captured(console: Console) -> str:
    file = console.file
    assert isinstance(file, io.StringIO)
    return file.getvalue()


def test_the_console_helpers_escape_and_never_read_markup() -> None:
    out = SafeConsole(file=io.StringIO(), width=200)
    say(out, f"service [/bold] {HOSTILE}")
    out.print(plain(f"[red]x[/red] {BIDI}"))
    out.print(f"a str that slipped through {HOSTILE}", markup=False)  # the net
    text = _captured(out)
    assert "\x1b" not in text and BIDI not in text
    assert "service [/bold] \\x1b[2J\\x1b[32mFAKE OK" in text
    assert "[red]x[/red] \\u202e" in text
    assert "slipped through \\x1b[2J" in text


def test_the_live_table_on_a_terminal_escapes_progress() -> None:
    """On a terminal Rich writes its own styles and cursor moves; the target's do not pass."""
    console = SafeConsole(file=io.StringIO(), force_terminal=True, width=120)
    progress = TerminalProgress(console)
    progress(RunStarted(1, (PlannedCheck("smoke", "http", critical=True, selected=True),)))
    progress(CheckStarted(run_id=1, check_id="smoke"))
    progress(CheckProgressed(run_id=1, progress=ProgressEvent("smoke", HOSTILE)))
    progress.stop()
    text = _captured(console)
    assert "\x1b[2J" not in text and "\x1b[32mFAKE" not in text
    assert "\\x1b[2J\\x1b[32mFAKE OK" in text


@pytest.fixture
def hostile_target() -> Iterator[str]:
    """A local HTTP server whose every answer is a 500 with the hostile body."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = f"{HOSTILE}\n{BIDI}evil".encode()
            self.send_response(500)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    with serving(Handler) as url:
        yield url


CONFIG = """\
environments:
  staging:
    base_url: {url}
    plan: smoke
plans:
  smoke:
    checks:
      - id: smoke
        type: http
        requests:
          - {{path: /, expect_body_contains: all is well}}
"""


def test_check_and_show_verbose_show_the_target_s_escapes(
    hostile_target: str, tmp_path: Path
) -> None:
    config = tmp_path / "preprod.yml"
    config.write_text(CONFIG.format(url=hostile_target))
    args = ("--config", str(config))
    check = run_cli("check", *args, "--env", "staging", "-v", tmp_path=tmp_path)
    assert check.code == 1, check.stdout + check.stderr
    shown = run_cli("show", "1", "-v", *args, tmp_path=tmp_path, reports=False)
    assert shown.code == 1, shown.stdout + shown.stderr
    for output in (check.stdout + check.stderr, shown.stdout + shown.stderr):
        assert "\x1b" not in output and BIDI not in output, output
        assert "\\x1b[2J\\x1b[32mFAKE OK" in output, output
        assert "\\u202eevil" in output
    runs = run_cli("runs", tmp_path=tmp_path, reports=False)
    assert runs.code == 0 and "\x1b" not in runs.stdout
    # the JSON report keeps the real text (JSON escapes it by its own rules)
    assert check.json_report is not None
    assert any(HOSTILE in text for text in _strings(check.json_report))


def _strings(value: object) -> Iterator[str]:
    """Every string in a JSON document, decoded."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def test_argparse_and_log_lines_are_escaped(tmp_path: Path) -> None:
    """What the CLI echoes of a typed argument, and its log lines, are escaped too."""
    typed = run_cli("runs", HOSTILE, tmp_path=tmp_path, reports=False)
    assert typed.code == 2 and "unrecognized arguments" in typed.stderr
    assert "\x1b" not in typed.stderr and "\\x1b[2J" in typed.stderr

    record = logging.LogRecord(
        "bot.engine", logging.WARNING, "", 1, "check said %s", (HOSTILE,), None
    )
    line = SafeFormatter("%(message)s").format(record)
    assert line == "check said \\x1b[2J\\x1b[32mFAKE OK"


def test_emoji_codes_from_outside_stay_text() -> None:
    """``:warning:`` in a reason or summary is text, not an emoji Rich substitutes."""
    for console in (Console(file=io.StringIO(), width=200), *consoles()):
        buffer = io.StringIO()
        console.file = buffer
        say(console, "reason: :warning: :thumbsup:")
        assert buffer.getvalue() == "reason: :warning: :thumbsup:\n"
    shown = consoles()[0]
    shown.file = io.StringIO()
    shown.print("summary :x: done", markup=False, highlight=False)
    assert shown.file.getvalue() == "summary :x: done\n"
