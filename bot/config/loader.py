"""Read ``preprod.yml``: ``${VAR}`` references, validation, and errors a person can act on
(file, key path, line, what was expected)."""

from __future__ import annotations

import difflib
import hashlib
import os
import re
import ssl
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from bot.config.schema import Config, header_secrets
from bot.config.yaml_lines import MAX_BYTES, Path_, YamlError, decode, line_for, load_with_lines
from checks.spec import COMMON_KEYS

CONFIG_ENV = "PREPROD_CONFIG"
DEFAULT_CONFIG = "preprod.yml"

_REFERENCE = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
_SECRET_NAME = re.compile(r"(?i)token|secret|password|passwd|api_?key|credential|private")


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


class ConfigError(Exception):
    """A configuration that cannot be used, with every problem found."""

    def __init__(self, source: Path | str, problems: list[Problem]) -> None:
        self.source = Path(source)
        self.problems = problems
        super().__init__(self.render())

    def render(self) -> str:
        count = len(self.problems)
        head = f"{self.source}: {count} configuration problem{'s' if count != 1 else ''}"
        return "\n".join([head, *(f"  {problem}" for problem in self.problems)])


def resolve_config_path(explicit: str | Path | None) -> Path:
    return Path(explicit or os.environ.get(CONFIG_ENV) or DEFAULT_CONFIG)


def load_config(path: str | Path, environ: Mapping[str, str] | None = None) -> Config:
    """Load and validate a config file; raises :class:`ConfigError` naming every problem."""
    source = Path(path)
    environ = os.environ if environ is None else environ
    content = _read(source)
    try:
        raw, lines = load_with_lines(decode(content))
    except YamlError as exc:
        problem = Problem(format_path(exc.path), str(exc), exc.line, exc.column)
        raise ConfigError(source, [problem]) from None
    if raw is None:
        raise ConfigError(source, [Problem("", _EMPTY)])
    if not isinstance(raw, dict):
        found = f"{_describe(raw)} instead"
        raise ConfigError(source, [Problem("", f"{_TOP_LEVEL}; the file holds {found}", 1)])

    secrets: set[str] = set()
    problems: list[Problem] = []
    data = _substitute(raw, (), environ, secrets, problems, lines)
    if problems:
        raise ConfigError(source, problems)

    try:
        config = Config.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(source, _explain(exc, data, lines, Config)) from None

    problems = [*_bind_check_options(config, lines), *_cross_check(config, source, lines)]
    if problems:
        raise ConfigError(source, problems)

    config = _resolve_paths(config, source.parent)
    for env in config.environments.values():
        secrets |= header_secrets(env.headers)
    config._source = source
    config._secrets = frozenset(s for s in secrets if len(s) >= 4)
    config._digest = hashlib.sha256(content).hexdigest()
    return config


_TOP_LEVEL = (
    "a config is a mapping of keys, at least `environments:` (each with `base_url` and "
    "`plan`) and `plans:` (each with a list of `checks`)"
)
_EMPTY = (
    f"the file is empty (or holds only comments); {_TOP_LEVEL}. `preprod init` writes a starter"
)


def _read(source: Path) -> bytes:
    """The file's bytes, at most ``MAX_BYTES`` of them, or a problem saying why not."""

    def fail(message: str) -> ConfigError:
        return ConfigError(source, [Problem("", message)])

    try:
        with source.open("rb") as file:
            size = os.fstat(file.fileno()).st_size
            if size > MAX_BYTES:
                raise fail(
                    f"the file is {size:,} bytes; a preprod config is at most {MAX_BYTES:,} "
                    "bytes (a real one is a few KB): is this the right file?"
                )
            return file.read(MAX_BYTES + 1)
    except FileNotFoundError:
        raise fail(
            f"file not found: {source.absolute()}. Create one with `preprod init`, or name "
            f"another with --config FILE or ${CONFIG_ENV}"
        ) from None
    except IsADirectoryError:
        raise fail(
            f"{source.absolute()} is a directory, not a file: name the config file with "
            "--config FILE"
        ) from None
    except OSError as exc:
        reason = (exc.strerror or str(exc)).lower()
        raise fail(f"cannot read {source.absolute()}: {reason}") from None


def _describe(value: Any) -> str:
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


def _substitute(
    value: Any,
    path: Path_,
    environ: Mapping[str, str],
    secrets: set[str],
    problems: list[Problem],
    lines: dict[Path_, int],
) -> Any:
    """Replace ``${VAR}`` / ``${VAR:-default}`` in every string; ``$$`` is a literal ``$``."""
    if isinstance(value, dict):
        return {
            k: _substitute(v, (*path, str(k)), environ, secrets, problems, lines)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [
            _substitute(v, (*path, i), environ, secrets, problems, lines)
            for i, v in enumerate(value)
        ]
    if not isinstance(value, str):
        return value

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name, default = match.group(1), match.group(2)
        found = environ.get(name)
        if found is None and default is None:
            problems.append(
                Problem(
                    format_path(path),
                    f"environment variable {name} is not set (write ${{{name}:-default}} "
                    "to give a default)",
                    line_for(lines, path),
                )
            )
            return ""
        resolved = found if found is not None else str(default)
        if _SECRET_NAME.search(name):
            secrets.add(resolved)
        return resolved

    return _REFERENCE.sub(replace, value)


def _explain(
    exc: ValidationError,
    data: Any,
    lines: dict[Path_, int],
    model: type[BaseModel],
    prefix: Path_ = (),
) -> list[Problem]:
    """pydantic errors as problems at the key path the user wrote; union alternatives merged."""
    merged: dict[str, Problem] = {}
    for error in exc.errors():
        path = _user_path(data, tuple(error["loc"]), error["type"] == "missing")
        full = (*prefix, *path)
        message = _message(error, model, path)
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


def _message(error: Any, model: type[BaseModel], path: Path_) -> str:
    kind = error["type"]
    if kind == "extra_forbidden":
        name = str(path[-1]) if path else "?"
        message = f"unknown key {name!r}"
        known = _known_keys(model, path[:-1])
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
            keys = [n for n, f in fields.items() if f.is_required()] or list(fields)[:3]
            expected = f"{_noun(target)} (a mapping with keys such as {', '.join(keys)})"
        return f"expected {expected}, got {_describe(error.get('input'))}"
    if kind in _PLAIN:
        return f"expected {_PLAIN[kind]}, got {_describe(error.get('input'))}"
    if kind == "too_short":
        context = error.get("ctx", {})
        wanted, found = context.get("min_length", 1), context.get("actual_length", 0)
        what = "entr" if isinstance(error.get("input"), dict) else "item"
        what += ("ies" if wanted != 1 else "y") if what == "entr" else ("s" if wanted != 1 else "")
        return f"expected at least {wanted} {what}, found {found or 'none'}"
    message = str(error["msg"]).removeprefix("Value error, ").removeprefix("Assertion failed, ")
    message = message.replace("Input should be", "expected")
    if kind != "value_error" and "input" in error and not isinstance(error["input"], dict | list):
        message += f" (got {_describe(error['input'])})"
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
        names = list(current.model_fields)
        if current.__name__ == "CheckSpec":
            names = sorted(COMMON_KEYS)
        return names
    return []


def _step(annotation: Any, part: str | int) -> Any:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        field = annotation.model_fields.get(str(part))
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


def _bind_check_options(config: Config, lines: dict[Path_, int]) -> list[Problem]:
    """Validate each check's own options against its kind's model."""
    problems: list[Problem] = []
    for plan_name, plan in config.plans.items():
        for index, spec in enumerate(plan.checks):
            prefix: Path_ = ("plans", plan_name, "checks", index)
            try:
                spec.bind()
            except ValidationError as exc:
                problems += _explain(exc, spec.raw_options, lines, spec.kind.Options, prefix)
    return problems


def _cross_check(config: Config, source: Path, lines: dict[Path_, int]) -> list[Problem]:
    """References between sections: plans, roles and files that must exist."""
    problems: list[Problem] = []

    def add(path: Path_, message: str) -> None:
        problems.append(Problem(format_path(path), message, line_for(lines, path)))

    for name, env in config.environments.items():
        if env.plan not in config.plans:
            add(
                ("environments", name, "plan"),
                f"no plan named {env.plan!r}; plans: {', '.join(sorted(config.plans))}",
            )
        if env.ca_bundle is not None and (problem := _ca_problem(source.parent / env.ca_bundle)):
            add(("environments", name, "ca_bundle"), f"{problem}: {env.ca_bundle}")

    def unknown_role(path: Path_, role: str) -> None:
        add(path, f"no role named {role!r}; roles: {', '.join(sorted(config.roles))}")

    for plan_name, plan in config.plans.items():
        for index, item in enumerate(plan.attestations):
            if item.role not in config.roles:
                unknown_role(("plans", plan_name, "attestations", index, "role"), item.role)
    for section in ("required_signoffs", "waivers_by"):
        for index, role in enumerate(getattr(config.policy, section) or []):
            if role not in config.roles and config.roles:
                unknown_role(("policy", section, index), role)
    return problems


def _ca_problem(path: Path) -> str | None:
    """Why a CA bundle cannot be used, or None: caught here rather than mid-run."""
    if not path.is_file():
        return "file not found"
    try:
        ssl.create_default_context(cafile=str(path))
    except ssl.SSLError:
        return "not a PEM file of CA certificates"
    return None


def _resolve_paths(config: Config, base: Path) -> Config:
    """CA bundles are relative to the config file, not to the working directory."""
    environments = {
        name: env.model_copy(update={"ca_bundle": (base / env.ca_bundle).resolve()})
        if env.ca_bundle is not None
        else env
        for name, env in config.environments.items()
    }
    resolved = config.model_copy(update={"environments": environments})
    return resolved
