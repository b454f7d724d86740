"""``tasks_from: {access_log: FILE}``: a load test's request mix derived from real
traffic. Each line of an nginx/Apache access log (combined or common format) gives a
method and a path; ids in paths collapse into templates (``/api/items/{id}``), query
strings drop, and the top N templates become weighted tasks that request a real path
seen in the log. Pure parsing plus one bounded read of the file."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import Field, PrivateAttr, model_validator

from checks.base import CheckOptions
from checks.placeholders import has_run_names
from checks.quantities import ByteSize

MAX_LOG_BYTES = 256 * 1024 * 1024
"""Reading stops here (``max_bytes``): enough for millions of lines, never the whole disk."""
WEIGHT_SCALE = 1000
"""Weights are per mille of the kept requests, so the mix holds to 0.1 percentage point."""

# host ident user [time] "METHOD PATH PROTO" status size ["referer" "agent"]
_LINE = re.compile(
    r'^\S+ \S+ \S+ \[[^\]]*\] "(?P<method>[A-Z]{3,10}) (?P<path>/\S*)(?: HTTP/[0-9.]+)?" '
    r"(?P<status>\d{3}) (?:\d+|-)(?P<rest>.*)$"
)
_UUID = re.compile(
    r"^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$"
)
_HEX = re.compile(r"^(?=.*\d)[0-9a-fA-F]{16,}$")
_NUMBER = re.compile(r"^\d+$")


class TasksFrom(CheckOptions):
    """Where a load test's tasks come from instead of a hand-written ``tasks`` list."""

    access_log: Path
    format: Literal["combined", "common"] = "combined"
    top: int = Field(default=10, ge=1, le=100)
    """Keep the N most requested templates; the rest are left out (and counted)."""
    methods: list[str] = Field(default_factory=lambda: ["GET", "HEAD"])
    """Replayed methods: an access log has no request bodies, so writes are left out
    unless listed here."""
    exclude: list[str] = Field(default_factory=list, max_length=50)
    """Regular expressions of paths to leave out (static assets, health probes)."""
    statuses: list[int] | None = None
    """Only lines with these statuses (default: every status)."""
    max_bytes: ByteSize = Field(default=MAX_LOG_BYTES, gt=0)
    _mix: Mix | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _derive(self) -> TasksFrom:
        """Read the log now, so a missing file or an empty mix is a config error that
        names ``tasks_from``, not a surprise mid-run."""
        patterns = []
        for expr in self.exclude:
            try:
                patterns.append(re.compile(expr))
            except re.error as exc:
                raise ValueError(f"exclude {expr!r} is not a regular expression: {exc}") from None
        if self.deferred:
            return self  # read when the run fills {environment}, {version}...
        try:
            with self.access_log.open("rb") as file:
                data = file.read(self.max_bytes)
        except OSError as exc:
            reason = exc.strerror or str(exc)
            raise ValueError(f"cannot read access log {self.access_log}: {reason}") from None
        methods = {m.upper() for m in self.methods}
        mix = derive_mix(
            data.decode("utf-8", errors="replace").splitlines(),
            top=self.top,
            methods=methods,
            exclude=patterns,
            statuses=set(self.statuses) if self.statuses else None,
        )
        if not mix.entries:
            raise ValueError(
                f"access log {self.access_log} gives no requests to replay "
                f"({mix.describe_skips()}); check format, methods and exclude"
            )
        self._mix = mix
        return self

    @property
    def deferred(self) -> bool:
        """The log's path names the run (``logs/{environment}.log``): it is read when
        the run starts, not when the config is loaded."""
        return has_run_names(str(self.access_log))

    @property
    def mix(self) -> Mix:
        assert self._mix is not None  # set by the validator
        return self._mix

    def task_dicts(self) -> list[dict[str, object]]:
        """The derived tasks, in the shape of the ``tasks`` option."""
        return [
            {"method": e.method, "path": e.example, "name": e.template, "weight": e.weight}
            for e in self.mix.entries
        ]


@dataclass(frozen=True)
class MixEntry:
    method: str
    template: str
    count: int
    share: float
    """Fraction of the kept (top-N) requests."""
    weight: int
    example: str
    """The most requested real path of this template: what the load test requests."""


@dataclass(frozen=True)
class Mix:
    entries: tuple[MixEntry, ...]
    lines: int
    unparsable: int
    skipped_method: int
    excluded: int
    beyond_top: int

    def describe_skips(self) -> str:
        return (
            f"{self.lines} lines, {self.unparsable} unreadable, {self.skipped_method} "
            f"other methods, {self.excluded} excluded"
        )

    def evidence(self, source: Path) -> list[str]:
        kept = sum(e.count for e in self.entries)
        out = [
            f"request mix derived from {source}: {kept} of {self.lines} lines replayed "
            f"({self.unparsable} unreadable, {self.skipped_method} other methods, "
            f"{self.excluded} excluded, {self.beyond_top} beyond the top {len(self.entries)})",
            f"  {'share':>6} {'weight':>6}  template (requested as)",
        ]
        for e in self.entries:
            out.append(
                f"  {e.share * 100:>5.1f}% {e.weight:>6}  {e.method} {e.template} ({e.example})"
            )
        return out


def template_of(path: str) -> str:
    """``/api/items/42?x=1`` -> ``/api/items/{id}``: numbers, UUIDs and long hex ids
    become ``{id}``; the query string is dropped."""
    path = path.split("?", 1)[0].split("#", 1)[0]
    parts = [
        "{id}" if _NUMBER.match(p) or _UUID.match(p) or _HEX.match(p) else p
        for p in path.split("/")
    ]
    return "/".join(parts) or "/"


def derive_mix(
    lines: list[str],
    *,
    top: int,
    methods: set[str],
    exclude: list[re.Pattern[str]] | None = None,
    statuses: set[int] | None = None,
) -> Mix:
    """Count (method, template) over the readable lines and keep the top N."""
    counts: Counter[tuple[str, str]] = Counter()
    examples: dict[tuple[str, str], Counter[str]] = {}
    unparsable = skipped_method = excluded = 0
    for line in lines:
        match = _LINE.match(line.strip())
        if match is None:
            unparsable += int(bool(line.strip()))
            continue
        method, path = match["method"], match["path"]
        if method not in methods:
            skipped_method += 1
            continue
        if (statuses and int(match["status"]) not in statuses) or any(
            p.search(path) for p in exclude or ()
        ):
            excluded += 1
            continue
        key = (method, template_of(path))
        counts[key] += 1
        examples.setdefault(key, Counter())[path.split("?", 1)[0]] += 1
    chosen = counts.most_common(top)
    kept = sum(count for _, count in chosen)
    entries = tuple(
        MixEntry(
            method=method,
            template=template,
            count=count,
            share=count / kept,
            weight=max(1, round(WEIGHT_SCALE * count / kept)),
            example=_example(template, examples[(method, template)]),
        )
        for (method, template), count in chosen
    )
    beyond = sum(counts.values()) - kept
    return Mix(entries, len(lines), unparsable, skipped_method, excluded, beyond)


def _example(template: str, seen: Counter[str]) -> str:
    """The most requested concrete path; among ties, a numeric id before a UUID."""
    ranked = sorted(seen.items(), key=lambda item: (-item[1], len(item[0]), item[0]))
    return ranked[0][0] if ranked else template
