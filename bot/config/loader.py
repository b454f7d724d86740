"""Read ``preprod.yml``: ``${VAR}`` references, validation, and errors a person can act on
(file, key path, line, what was expected)."""

from __future__ import annotations

import difflib
import hashlib
import os
import re
import ssl
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from bot.config.explain import explain
from bot.config.paths import CONFIG_ENV
from bot.config.problems import Problem, describe, format_path
from bot.config.schema import Config, header_secrets
from bot.config.yaml_lines import MAX_BYTES, Path_, YamlError, decode, line_for, load_with_lines
from checks.base import CheckOptions
from checks.registry import UnknownCheckType, kind_facts
from checks.spec import COMMON_KEYS

_REFERENCE = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
_SECRET_NAME = re.compile(r"(?i)token|secret|password|passwd|api_?key|credential|private")


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


def load_config(
    path: str | Path,
    environ: Mapping[str, str] | None = None,
    *,
    missing_files: list[Problem] | None = None,
) -> Config:
    """Load and validate a config file; raises :class:`ConfigError` naming every problem.

    With a ``missing_files`` list (``preprod config validate``), a CA bundle that is not
    there yet goes into it instead of failing: such a file is often made or mounted where
    the bot runs (the example target writes its CA when it starts). Everything else, a CA
    file that is there but not PEM included, still fails; without the list it all does."""
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
        found = f"{describe(raw)} instead"
        raise ConfigError(source, [Problem("", f"{_TOP_LEVEL}; the file holds {found}", 1)])

    secrets: set[str] = set()
    problems: list[Problem] = []
    data = _substitute(raw, (), environ, secrets, problems, lines)
    if problems:
        raise ConfigError(source, problems)

    # Every problem in one pass: a check's options are validated even when another part of
    # the file is wrong (an unknown `type:` in one check must not hide a typo in the next).
    options, validated = _check_option_problems(data, lines)
    try:
        config = Config.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(
            source, _by_line([*explain(exc, data, lines, Config), *options])
        ) from None

    problems = [*options, *_cross_check(config, source, lines, missing_files)]
    if problems:
        raise ConfigError(source, _by_line(problems))
    for plan_name, plan in config.plans.items():
        for spec in plan.checks:
            spec.bind(validated.get((plan_name, spec.id)))  # validated above, once

    config = _resolve_paths(config, source.parent)
    for env in config.environments.values():
        secrets |= header_secrets(env.headers)
    config._source = source
    config._secrets = frozenset(s for s in secrets if len(s) >= 4)
    config._digest = hashlib.sha256(content).hexdigest()
    config._text = content.decode("utf-8", errors="replace")
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


def _check_option_problems(
    data: Any, lines: dict[Path_, int]
) -> tuple[list[Problem], dict[tuple[str, str], CheckOptions]]:
    """Each check's own options against its kind's model, read from the file's mapping so
    that it runs whatever else is wrong. A check whose `type:` is unknown or missing is
    left to the schema's own problem. Also returns the valid options by plan and check id,
    for :meth:`CheckSpec.bind`: validating twice read a load test's access log twice."""
    problems: list[Problem] = []
    validated: dict[tuple[str, str], CheckOptions] = {}
    plans = data.get("plans") if isinstance(data, dict) else None
    for plan_name, plan in plans.items() if isinstance(plans, dict) else ():
        for prefix, check in _plan_checks(plan_name, plan):
            kind_name = check.get("type") if isinstance(check, dict) else None
            if not isinstance(kind_name, str):
                continue
            try:
                options = kind_facts(kind_name).options
            except UnknownCheckType:
                continue
            raw = {k: v for k, v in check.items() if k not in COMMON_KEYS}
            try:
                valid = options.model_validate(raw)
            except ValidationError as exc:
                problems += explain(exc, raw, lines, options, prefix, COMMON_KEYS)
                continue
            if isinstance(check_id := check.get("id"), str):
                validated[(str(plan_name), check_id)] = valid
    return problems, validated


def _plan_checks(plan_name: str, plan: Any) -> list[tuple[Path_, Any]]:
    """A plan's checks as written, with their key paths: ``checks:`` and each stage's."""
    if not isinstance(plan, dict):
        return []
    checks = plan.get("checks")
    found: list[tuple[Path_, Any]] = [
        (("plans", plan_name, "checks", i), c)
        for i, c in enumerate(checks if isinstance(checks, list) else ())
    ]
    stages = plan.get("stages")
    for s, stage in enumerate(stages if isinstance(stages, list) else ()):
        listed = stage.get("checks") if isinstance(stage, dict) else None
        found += [
            (("plans", plan_name, "stages", s, "checks", i), c)
            for i, c in enumerate(listed if isinstance(listed, list) else ())
        ]
    return found


def _by_line(problems: list[Problem]) -> list[Problem]:
    """In the order of the file (problems without a line first, as they concern all of it)."""
    return sorted(problems, key=lambda problem: problem.line or 0)


def _cross_check(
    config: Config, source: Path, lines: dict[Path_, int], missing: list[Problem] | None
) -> list[Problem]:
    """References between sections: plans, roles and files that must exist (a missing CA
    file goes into ``missing`` instead when it is a list)."""
    problems: list[Problem] = []

    def add(path: Path_, message: str, into: list[Problem] = problems) -> None:
        into.append(Problem(format_path(path), message, line_for(lines, path)))

    for name, env in config.environments.items():
        if env.plan not in config.plans:
            add(
                ("environments", name, "plan"),
                f"no plan named {env.plan!r}; plans: {', '.join(sorted(config.plans))}",
            )
        if env.ca_bundle is not None and (problem := _ca_problem(source.parent / env.ca_bundle)):
            into = missing if missing is not None and problem == _NOT_FOUND else problems
            add(("environments", name, "ca_bundle"), f"{problem}: {env.ca_bundle}", into)

    def unknown_role(path: Path_, role: str) -> None:
        close = difflib.get_close_matches(role, list(config.roles), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        add(path, f"no role named {role!r}{hint}; roles: {', '.join(sorted(config.roles))}")

    for plan_name, plan in config.plans.items():
        for index, item in enumerate(plan.attestations):
            if item.role not in config.roles:
                unknown_role(("plans", plan_name, "attestations", index, "role"), item.role)
    starters: list[tuple[Path_, list[str] | None]] = [
        *((("environments", name, "started_by"), env.started_by)
          for name, env in config.environments.items()),
        *((("plans", name, "started_by"), plan.started_by) for name, plan in config.plans.items()),
    ]  # fmt: skip
    for path, roles in starters:
        for index, role in enumerate(roles or []):
            if role not in config.roles:
                unknown_role((*path, index), role)
    for section in ("required_signoffs", "waivers_by"):
        for index, role in enumerate(getattr(config.policy, section) or []):
            if role not in config.roles and config.roles:
                unknown_role(("policy", section, index), role)
    return problems


_NOT_FOUND = "file not found"


def _ca_problem(path: Path) -> str | None:
    """Why a CA bundle cannot be used, or None: caught here rather than mid-run."""
    if not path.is_file():
        return _NOT_FOUND
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
