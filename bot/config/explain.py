"""pydantic's validation errors in the user's words: at the key path they wrote, with
what was expected, a "did you mean", and an indentation hint where a mapping went astray."""

from __future__ import annotations

import difflib
import re
import types
import typing
from collections.abc import Collection
from typing import Any

from pydantic import BaseModel, ValidationError

from bot.config.problems import Problem, describe, format_path
from bot.config.yaml_lines import Path_, line_for
from checks.spec import COMMON_KEYS


def explain(
    exc: ValidationError,
    data: Any,
    lines: dict[Path_, int],
    model: type[BaseModel],
    prefix: Path_ = (),
    shared_keys: Collection[str] = (),
) -> list[Problem]:
    """pydantic errors as problems at the key path the user wrote; union alternatives merged.
    ``shared_keys`` are keys valid beside the model's own at its top level (a check's
    ``critical``, ``timeout``, ... beside its kind's options), offered in "did you mean"."""
    merged: dict[str, Problem] = {}
    for error in exc.errors():
        path = _user_path(data, tuple(error["loc"]), error["type"] == "missing")
        full = (*prefix, *path)
        message = _message(error, model, path, shared_keys)
        key = format_path(full)
        if key in merged:
            if message not in merged[key].message:
                merged[key] = Problem(key, f"{merged[key].message}, or {message}", merged[key].line)
            continue
        line = line_for(lines, full)
        if error["type"] in _SHAPE_ERRORS and (hint := _indent_hint(error, data, path, line)):
            message += hint
        merged[key] = Problem(key, _clip(message), line)
    return list(merged.values())


def _clip(message: str, most: int = 400) -> str:
    """A problem stays a line or two, whatever value the file holds."""
    if len(message) <= most:
        return message
    return f"{message[: most // 2]} ... {message[-most // 2 :]}"


_SHAPE_ERRORS = frozenset({"model_type", "model_attributes_type", "dict_type", "list_type"})
_PLAIN = {
    "string_type": "text",
    "int_type": "a whole number",
    "int_parsing": "a whole number",
    "int_from_float": "a whole number",
    "float_type": "a number",
    "float_parsing": "a number",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "list_type": "a list",
    "dict_type": "a mapping of keys",
}


def _indent_hint(error: Any, data: Any, path: Path_, line: int | None) -> str:
    """When a mapping or list is missing or a scalar sits where one was expected, the
    usual cause is indentation: say which line to look at."""
    if not path or line is None:
        return ""
    value, key = error.get("input"), path[-1]
    if value is None:
        return (
            f"; nothing is indented under {key!r}: check the indentation of the lines after "
            f"line {line} (what belongs to {key!r} is indented further than it)"
        )
    parent: Any = data
    for part in path[:-1]:
        parent = parent[part]
    if isinstance(value, dict | list) or not isinstance(parent, dict):
        return ""
    keys = list(parent)
    before = keys[: keys.index(key)] if key in keys else []
    above = next((k for k in reversed(before) if isinstance(parent[k], dict | None)), None)
    if above is not None:
        return (
            f"; if {key!r} belongs to {above!r} above it, indent it further than {above!r} "
            f"(check the indentation of line {line})"
        )
    return f"; check the indentation of line {line}"


def _user_path(data: Any, loc: tuple[Any, ...], keep_last: bool) -> Path_:
    """Drop the parts of a pydantic location that are not keys in the data
    (union member tags such as ``int`` or ``list[int]``)."""
    path: list[str | int] = []
    node = data
    for index, part in enumerate(loc):
        last = index == len(loc) - 1
        in_dict = isinstance(node, dict) and part in node
        in_list = isinstance(node, list) and isinstance(part, int) and part < len(node)
        if in_dict or in_list:
            node = node[part]
            path.append(part)
        elif last and keep_last:
            path.append(part)
    return tuple(path)


def _message(error: Any, model: type[BaseModel], path: Path_, shared_keys: Collection[str]) -> str:
    kind = error["type"]
    if kind == "extra_forbidden":
        name = str(path[-1]) if path else "?"
        message = f"unknown key {name!r}"
        known = _known_keys(model, path[:-1])
        if len(path) == 1:
            known = sorted({*known, *shared_keys})
        if close := difflib.get_close_matches(name, known, n=1):
            message += f" (did you mean {close[0]!r}?)"
        elif known:
            message += f"; expected one of: {', '.join(sorted(known))}"
        return message
    if kind == "missing":
        return "required key is missing"
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        target = _model_at(model, path)
        expected = "a mapping of keys"
        if isinstance(target, type) and issubclass(target, BaseModel):
            fields = target.model_fields
            names = {n: f.alias or n for n, f in fields.items()}
            keys = [names[n] for n, f in fields.items() if f.is_required()] or [*names.values()][:3]
            expected = f"{_noun(target)} (a mapping with keys such as {', '.join(keys)})"
        return f"expected {expected}, got {describe(error.get('input'))}"
    if kind in _PLAIN:
        return f"expected {_PLAIN[kind]}, got {describe(error.get('input'))}"
    if kind == "too_short":
        context = error.get("ctx", {})
        wanted, found = context.get("min_length", 1), context.get("actual_length", 0)
        what = "entr" if isinstance(error.get("input"), dict) else "item"
        what += ("ies" if wanted != 1 else "y") if what == "entr" else ("s" if wanted != 1 else "")
        return f"expected at least {wanted} {what}, found {found or 'none'}"
    message = str(error["msg"]).removeprefix("Value error, ").removeprefix("Assertion failed, ")
    message = message.replace("Input should be", "expected")
    if kind != "value_error" and "input" in error and not isinstance(error["input"], dict | list):
        message += f" (got {describe(error['input'])})"
    return message


def _noun(model: type[BaseModel]) -> str:
    """``PlanSpec`` -> ``a plan``, ``Environment`` -> ``an environment``."""
    words = re.sub(r"(?<!^)(?=[A-Z])", " ", model.__name__.removesuffix("Spec")).lower()
    return ("an " if words[:1] in "aeiou" else "a ") + words


def _model_at(model: type[BaseModel], path: Path_) -> Any:
    current: Any = model
    for part in path:
        current = _step(current, part)
        if current is None:
            return None
    return current


def _known_keys(model: type[BaseModel], path: Path_) -> list[str]:
    """Field names of the model found at ``path`` (for "did you mean")."""
    current = _model_at(model, path)
    if isinstance(current, type) and issubclass(current, BaseModel):
        names = [field.alias or name for name, field in current.model_fields.items()]
        if current.__name__ == "CheckSpec":
            names = sorted(COMMON_KEYS)
        return names
    return []


def _step(annotation: Any, part: str | int) -> Any:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        fields = annotation.model_fields
        field = fields.get(str(part)) or next(
            (f for f in fields.values() if f.alias == str(part)), None
        )
        return _unwrap(field.annotation) if field else None
    origin = typing.get_origin(annotation)
    if origin in (dict, list):
        return _unwrap(typing.get_args(annotation)[-1])
    return None


def _unwrap(annotation: Any) -> Any:
    """``X | None`` -> ``X``."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        return args[0] if len(args) == 1 else annotation
    return annotation
