"""The run's own values in a check's options: ``{service}``, ``{version}``,
``{environment}`` and ``{plan}``, filled in once, when the run starts the check.

One substitution step over every string value of a check's options (paths, URLs, header
values, expected values, file paths, argv items), never through a shell: a value is put
into a string, and that string stays one option (one argv item, one path). ``{{`` and
``}}`` are literal braces. Braces around anything that is not a name (``\\d{3}``, a JSON
text) are left alone. A kind may keep names of its own for itself (a drill's
``{marker}``, ``{previous_version}``, ``{python}``): those pass through untouched for the
kind to fill. Any other ``{name}`` is a configuration error, found at load time.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the config loader imports this module: keep it light (no httpx)
    from checks.context import RunInfo

RUN_NAMES = ("service", "version", "environment", "plan")
"""The names every check may use."""

_TOKEN = re.compile(r"\{\{|\}\}|\{([A-Za-z_][A-Za-z0-9_]*)\}")

KeyPath = tuple[str | int, ...]


def run_values(run: RunInfo) -> dict[str, str]:
    """What each run name stands for in this run."""
    return {
        "service": run.service,
        "version": run.version,
        "environment": run.environment,
        "plan": run.plan,
    }


def fill(value: Any, values: Mapping[str, str], keep: frozenset[str] = frozenset()) -> Any:
    """``value`` (an options mapping, list or string) with every run name replaced and
    ``{{``/``}}`` unescaped; names in ``keep`` are left for the kind. Keys are not
    touched. Raises KeyError for a name that is neither (load-time validation keeps that
    from happening at run time)."""
    if isinstance(value, str):

        def one(match: re.Match[str]) -> str:
            token, name = match.group(0), match.group(1)
            if name is None:
                return token[0]
            if name in keep:
                return token
            return values[name]

        return _TOKEN.sub(one, value)
    if isinstance(value, list):
        return [fill(item, values, keep) for item in value]
    if isinstance(value, dict):
        return {key: fill(item, values, keep) for key, item in value.items()}
    return value


def names_in(value: Any, path: KeyPath = ()) -> Iterator[tuple[KeyPath, str]]:
    """Every ``{name}`` used in ``value``, with the key path of the string it is in."""
    if isinstance(value, str):
        for match in _TOKEN.finditer(value):
            if match.group(1) is not None:
                yield path, match.group(1)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from names_in(item, (*path, index))
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from names_in(item, (*path, str(key)))


def format_key_path(path: KeyPath) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text


def unknown_names(value: Any, keep: frozenset[str] = frozenset()) -> list[str]:
    """One line per ``{name}`` that nothing fills: where, what, and what may be used."""
    allowed = sorted({*RUN_NAMES, *keep})
    known = ", ".join(f"{{{name}}}" for name in allowed)
    return [
        f"{format_key_path(path)}: unknown placeholder {{{name}}}; known: {known} "
        "(write {{ and }} for literal braces)"
        for path, name in names_in(value)
        if name not in RUN_NAMES and name not in keep
    ]


def uses(value: Any, name: str) -> bool:
    """Whether ``{name}`` appears anywhere in ``value``."""
    return any(found == name for _, found in names_in(value))


def has_run_names(text: str) -> bool:
    """Whether ``text`` still holds a run name: a value known only when the run starts
    (a file of one environment), not to be read at load time."""
    return any(name in RUN_NAMES for _, name in names_in(text))
