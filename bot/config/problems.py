"""One problem found in a config, and how a key path and a value are written in it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bot.config.yaml_lines import Path_


@dataclass(frozen=True)
class Problem:
    path: str
    message: str
    line: int | None = None
    column: int | None = None

    def __str__(self) -> str:
        place = ""
        if self.line is not None:
            place = f"line {self.line}" + (f", column {self.column}" if self.column else "")
        if self.path:
            return (
                f"{self.path} ({place}): {self.message}"
                if place
                else f"{self.path}: {self.message}"
            )
        return f"{place}: {self.message}" if place else self.message


def describe(value: Any) -> str:
    """A value as the user would name it: ``nothing``, ``a list``, ``the text 'x'``."""
    if value is None:
        return "nothing"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:40] + "..."
        return f"the text {shown!r}"
    if isinstance(value, bool):
        return f"{str(value).lower()}"
    return repr(value) if len(repr(value)) <= 40 else repr(value)[:40] + "..."


def format_path(path: Path_) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out
