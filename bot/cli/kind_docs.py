"""What ``preprod checks`` prints: every kind of check and its options, read from the registry
and each kind's pydantic ``Options`` model, so the list can never drift from what the config
accepts."""

from __future__ import annotations

import ast
import inspect
import itertools
import re
import textwrap
import types
import typing
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined
from rich.console import Console
from rich.table import Table

from bot.cli.common import EXIT_OK, say
from checks.registry import check_types
from checks.spec import CheckSpec
from checks.units import format_duration, format_size

PLAIN_TYPES: dict[Any, str] = {
    str: "text",
    int: "integer",
    float: "number",
    bool: "boolean",
    Path: "file",
}


@dataclass(frozen=True)
class OptionDoc:
    name: str
    type: str
    default: str
    description: str


def show_kinds(only: str | None, out: Console) -> int:
    kinds = check_types()
    names = sorted(kinds) if only is None else [only]
    if only is not None and only not in kinds:
        raise LookupError(f"unknown check type {only!r}; known: {', '.join(sorted(kinds))}")
    if only is None:
        common = [o for o in options(CheckSpec) if o.name != "type"]
        _section(out, "every check: the keys all kinds share", common)
    for name in names:
        kind = kinds[name]
        module = inspect.getmodule(kind)
        own = kind.__dict__.get("__doc__") or (module.__doc__ if module else "") or ""
        doc = prose(" ".join(inspect.cleandoc(own).split("\n\n")[0].split()))
        doc = doc.removeprefix(f"{name}: ")  # the heading names the kind already
        extra = "Runs alone (exclusive)." if kind.exclusive else ""
        _section(out, " ".join(filter(None, (f"{name}:", doc, extra))), options(kind.Options))
    return EXIT_OK


TABLE_WIDTH = 120
"""Below this many columns the four columns of a table squeeze the descriptions into
slivers: each option is then a line of its own with its description indented under it."""


def _section(out: Console, heading: str, found: list[OptionDoc]) -> None:
    if out.width < TABLE_WIDTH:
        for line in textwrap.wrap(heading, out.width - 1):
            say(out, line, style="bold")
        for option in found:
            default = f"  default {option.default}" if option.default else ""
            line = f"  {option.name}  ({option.type}){default}"
            for part in textwrap.wrap(line, out.width - 1, subsequent_indent=" " * 6,
                                      break_long_words=False, break_on_hyphens=False):  # fmt: skip
                say(out, part)
            if option.description:
                for line in textwrap.wrap(option.description, max(out.width - 6, 40)):
                    say(out, f"      {line}", style="dim")
        out.print()
        return
    say(out, heading, style="bold")
    table = Table(box=None, pad_edge=False, header_style="dim")
    table.add_column("option", no_wrap=True)  # a key is copied as a whole, never broken
    table.add_column("type", overflow="fold", max_width=20)
    table.add_column("default", overflow="fold", max_width=20)
    table.add_column("description", ratio=1)
    for option in found:
        table.add_row(option.name, option.type, option.default, option.description)
    out.print(table)
    out.print()


def options(model: type[BaseModel], prefix: str = "") -> list[OptionDoc]:
    """The model's fields (and one level of nested models, as ``requests[].path``)."""
    docs = _attribute_docs(model)
    found: list[OptionDoc] = []
    for name, info in model.model_fields.items():
        key = info.alias or name
        description = info.description or docs.get(name, "")
        kind = type_name(info)
        default = _default(info)
        if kind == "duration" and isinstance(info.default, int | float):
            default = format_duration(float(info.default))
        if kind == "size" and isinstance(info.default, int):
            default = format_size(info.default)
        found.append(OptionDoc(prefix + key, kind, default, prose(description)))
        nested = _nested_model(info.annotation)
        if nested is not None and not prefix:
            many = typing.get_origin(info.annotation) in (list, tuple)
            found.extend(options(nested, prefix=f"{key}{'[]' if many else ''}."))
    return found


def type_name(info: FieldInfo) -> str:
    """``duration``, ``integer``, ``list of text``, ``load | stress``: as a plan writes it."""
    return _parsed(info.metadata) or _annotation(info.annotation)


def _parsed(metadata: Iterable[Any]) -> str:
    """Units parsed by a validator (``parse_duration`` -> ``duration``), else ``""``."""
    for meta in metadata:
        func = getattr(getattr(meta, "func", None), "__name__", "")
        if func.startswith("parse_"):
            return func.removeprefix("parse_")
    return ""


def _annotation(annotation: Any) -> str:
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Annotated:
        return _parsed(annotation.__metadata__) or _annotation(args[0])
    if origin in (typing.Union, types.UnionType):
        return " | ".join(_annotation(a) for a in args if a is not type(None))
    if origin is Literal:
        return " | ".join(str(a) for a in args)
    if origin in (list, tuple, set):
        return f"list of {_annotation(args[0])}" if args else "list"
    if origin is dict:
        return "mapping" if not args else f"mapping of {_annotation(args[1])}"
    if annotation is Any:
        return "any"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "mapping"
    return PLAIN_TYPES.get(annotation, getattr(annotation, "__name__", str(annotation)))


def _nested_model(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        if (found := _nested_model(arg)) is not None:
            return found
    return None


def _default(info: FieldInfo) -> str:
    if info.is_required():
        return "required"
    if info.default_factory is not None:
        made = info.default_factory()  # type: ignore[call-arg]
        return "" if made in ([], {}, ()) else _shown(made)
    if info.default is PydanticUndefined or info.default is None:
        return ""
    return _shown(info.default)


def _shown(value: Any) -> str:
    """A default as a plan would write it, never a Python repr."""
    if isinstance(value, bool):
        return str(value).lower()
    if value is None:
        return "null"
    if isinstance(value, list | tuple):
        return ", ".join(map(_shown, value))
    if isinstance(value, dict):
        return ", ".join(f"{key}: {_shown(item)}" for key, item in value.items())
    if isinstance(value, BaseModel):
        return ""  # its own rows follow, each with its default
    return str(value)


_ROLE = re.compile(r":[a-z]+:`~?([^`]+)`")
_LITERAL = re.compile(r"``([^`]+)``")


def prose(text: str) -> str:
    """A docstring for people who write plans: reST markup gone (``1MB`` -> 1MB), references
    to code (:func:`x`) dropped with the words that lead to them."""
    text = re.sub(r";?\s*see " + _ROLE.pattern, "", text)
    text = _ROLE.sub(r"\1", text)
    return _LITERAL.sub(r"\1", text)


@cache
def _attribute_docs(model: type[BaseModel]) -> dict[str, str]:
    """The docstring written under each field (the project's convention), since few fields
    carry a pydantic ``description``; base classes first, the model's own win."""
    docs: dict[str, str] = {}
    for cls in reversed(model.__mro__):
        if not (isinstance(cls, type) and issubclass(cls, BaseModel)) or cls is BaseModel:
            continue
        try:
            tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
        except (OSError, TypeError, SyntaxError):
            continue
        body = tree.body[0].body if tree.body and isinstance(tree.body[0], ast.ClassDef) else []
        for field, after in itertools.pairwise(body):
            if (
                isinstance(field, ast.AnnAssign)
                and isinstance(field.target, ast.Name)
                and isinstance(after, ast.Expr)
                and isinstance(after.value, ast.Constant)
                and isinstance(after.value.value, str)
            ):
                docs[field.target.id] = " ".join(inspect.cleandoc(after.value.value).split())
    return docs
