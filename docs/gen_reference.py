"""The site's two reference pages, written at build time from the code itself so they cannot
drift: the check kinds from the registry and each kind's options model (the introspection
``preprod checks`` uses, imported from ``bot.cli.kind_docs``), the configuration keys from
``bot/config/schema.py``'s models. mkdocs loads this file as a hook (``mkdocs.yml``); the
pages exist only in the built site, never in the tree."""

from __future__ import annotations

import html
import inspect
import re
import types
import typing
from typing import Any

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.structure.files import File, Files
from pydantic import BaseModel

from bot.cli.kind_docs import OptionDoc, options, prose
from bot.config.schema import Config
from checks.base import CheckKind
from checks.registry import check_types
from checks.spec import CheckSpec

CHECKS_PAGE = "reference/checks.md"
CONFIG_PAGE = "reference/configuration.md"

PLACEHOLDERS = {
    "roles": "<role>",
    "environments": "<environment>",
    "plans": "<plan>",
    "repositories": "<owner/name>",
}
"""How a key path names the entries of a mapping (``roles.<role>.members``)."""


def cell(text: str) -> str:
    """Docstring text made safe inside a Markdown table cell: no HTML, no markup, no pipes."""
    text = html.escape(text, quote=False)
    return re.sub(r"([\\`*_\[\]|])", r"\\\1", text)


def code(text: str) -> str:
    """A key, type or default as a code span (pipes escaped for the table)."""
    return f"`{text.replace('|', '&#124;')}`" if text else ""


def table(rows: list[OptionDoc], first: str = "option") -> list[str]:
    lines = [f"| {first} | type | default | meaning |", "| --- | --- | --- | --- |"]
    for row in rows:
        name = code(row.name).replace("&#124;", "\\|")
        kind = code(row.type).replace("&#124;", "\\|")
        default = code(row.default).replace("&#124;", "\\|")
        lines.append(f"| {name} | {kind} | {default} | {cell(row.description)} |")
    return lines


def kind_summary(name: str, kind: CheckKind) -> str:
    """The first paragraph of the kind's docstring (else its module's), as people read it."""
    module = inspect.getmodule(kind)
    own = kind.__dict__.get("__doc__") or (module.__doc__ if module else "") or ""
    first = " ".join(inspect.cleandoc(own).split("\n\n")[0].split())
    return prose(first).removeprefix(f"{name}: ")


def checks_reference() -> str:
    """Every registered kind of check, its options, their types, defaults and meaning."""
    kinds = check_types()
    out = [
        "# Check kinds: reference",
        "",
        "Generated when the site is built, from the check registry and each kind's options "
        "model: the same source as `preprod checks` (and `preprod checks KIND`), so it "
        "always matches the code that validates a plan. [The check kinds](../checks.md) "
        "explains them with examples.",
        "",
        "## Keys every check has",
        "",
        *table([o for o in options(CheckSpec) if o.name != "type"], first="key"),
        "",
        "Kinds: " + ", ".join(f"[`{name}`](#{name})" for name in sorted(kinds)),
        "",
    ]
    for name in sorted(kinds):
        kind = kinds[name]
        traits = []
        if kind.exclusive:
            traits.append("Runs alone (`exclusive`).")
        if not kind.repeat_safe:
            traits.append("Not run again by itself after a crash (`repeat_safe: false`).")
        out += [f"## `{name}`", "", cell(kind_summary(name, kind)), ""]
        if traits:
            out += [" ".join(traits), ""]
        found = options(kind.Options)
        out += [*table(found), ""] if found else ["No options of its own.", ""]
    return "\n".join(out)


def _shape(annotation: Any) -> tuple[type[BaseModel], str] | None:
    """The model inside a field's type and how a key path reaches it: ``.``, ``[].`` or a
    mapping's ``.<name>.``."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation, "."
    if origin is typing.Annotated:
        return _shape(args[0])
    if origin in (typing.Union, types.UnionType):
        found = [s for a in args if a is not type(None) and (s := _shape(a))]
        return found[0] if found else None
    if origin in (list, tuple) and args and (inner := _shape(args[0])):
        return inner[0], "[]" + inner[1]
    if origin is dict and len(args) == 2 and (inner := _shape(args[1])):
        return inner[0], ".{}" + inner[1]
    return None


def key_rows(model: type[BaseModel], prefix: str = "") -> list[OptionDoc]:
    """Every key under ``model``, depth first, as full key paths (``plans.<plan>.checks[].id``);
    a check's own options are the kinds' (on the check-kind reference)."""
    rows: list[OptionDoc] = []
    own = {o.name: o for o in options(model) if "." not in o.name}
    for name, info in model.model_fields.items():
        key = info.alias or name
        doc = own[key]
        path = prefix + key
        rows.append(OptionDoc(path, doc.type, doc.default, doc.description))
        shape = _shape(info.annotation)
        if shape is not None and shape[0] is not CheckSpec:
            nested, joint = shape
            rows += key_rows(nested, path + joint.format(PLACEHOLDERS.get(key, "<name>")))
        elif shape is not None:
            rows += [
                OptionDoc(f"{path}[].{o.name}", o.type, o.default, o.description)
                for o in options(CheckSpec)
            ]
    return rows


def config_reference() -> str:
    """Every key of ``preprod.yml``: the top-level ones, then each section's full paths."""
    top = [o for o in options(Config) if "." not in o.name]
    out = [
        "# Configuration: reference",
        "",
        "Generated when the site is built, from the models in `bot/config/schema.py` that "
        "`preprod config validate` checks a file against, so it lists exactly the keys the "
        "loader accepts. [Configuration](../configuration.md) explains the file with an "
        "example; a check's own options are on the [check-kind reference](checks.md).",
        "",
        "## Top-level keys",
        "",
        *table(top, first="key"),
        "",
    ]
    for name, info in Config.model_fields.items():
        shape = _shape(info.annotation)
        if shape is None:
            continue
        nested, joint = shape
        doc = prose(" ".join(inspect.cleandoc(nested.__doc__ or "").split("\n\n")[0].split()))
        out += [f"## `{name}`", ""]
        if doc:
            out += [cell(doc), ""]
        prefix = name + joint.format(PLACEHOLDERS.get(name, "<name>"))
        rows = key_rows(nested, prefix)
        out += [*table(rows, first="key"), ""]
        if any("checks[]." in row.name for row in rows):
            out += ["Each check also takes its kind's options: [check kinds](checks.md).", ""]
    return "\n".join(out)


def top_level_keys() -> list[str]:
    return [info.alias or name for name, info in Config.model_fields.items()]


def on_files(files: Files, config: MkDocsConfig) -> Files:
    """mkdocs hook: add the generated pages to the site (nothing is written to docs/)."""
    files.append(File.generated(config, CHECKS_PAGE, content=checks_reference()))
    files.append(File.generated(config, CONFIG_PAGE, content=config_reference()))
    return files
