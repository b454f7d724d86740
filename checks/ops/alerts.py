"""Reading a Prometheus alerting-rules file and judging it: every ``expr`` parses as
PromQL (``promql-parser``), the required alerts exist, and each alert has a ``for``, a
``severity`` label and a ``runbook_url`` annotation. Pure: text in, problems out."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

MAX_RULES = 5000


@dataclass(frozen=True)
class Rule:
    name: str
    """The alert's name, or the recorded series' name."""
    is_alert: bool
    expr: str
    for_: str | None = None
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)


class RulesError(ValueError):
    """The file is not a rules file; the message says where it goes wrong."""


def _strings(value: Any) -> dict[str, str]:
    if not isinstance(value, dict):
        return {}
    return {str(k): str(v) for k, v in value.items() if v is not None}


def load_rules(text: str) -> list[Rule]:
    """The rules of every group, in file order."""
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise RulesError(f"not YAML: {str(exc).splitlines()[0]}") from None
    if not isinstance(document, dict) or not isinstance(document.get("groups"), list):
        raise RulesError("expected a mapping with a `groups` list")
    rules: list[Rule] = []
    for g, group in enumerate(document["groups"]):
        entries = group.get("rules") if isinstance(group, dict) else None
        if not isinstance(entries, list):
            raise RulesError(f"groups[{g}] has no `rules` list")
        for r, entry in enumerate(entries):
            if len(rules) >= MAX_RULES:
                raise RulesError(f"more than {MAX_RULES} rules")
            if not isinstance(entry, dict) or not ({"alert", "record"} & set(entry)):
                raise RulesError(f"groups[{g}].rules[{r}] is neither an alert nor a record")
            is_alert = "alert" in entry
            for_ = entry.get("for")
            rules.append(
                Rule(
                    name=str(entry["alert"] if is_alert else entry["record"]),
                    is_alert=is_alert,
                    expr=str(entry.get("expr", "")),
                    for_=None if for_ is None else str(for_),
                    labels=_strings(entry.get("labels")),
                    annotations=_strings(entry.get("annotations")),
                )
            )
    return rules


def rule_problems(
    rules: list[Rule],
    required: list[str],
    *,
    need_for: bool = True,
    need_severity: bool = True,
    need_runbook: bool = True,
) -> list[str]:
    import promql_parser  # at use: loading a plan never needs it

    problems: list[str] = []
    for rule in rules:
        what = f"{'alert' if rule.is_alert else 'recording rule'} {rule.name}"
        try:
            promql_parser.parse(rule.expr)
        except ValueError as exc:
            problems.append(f"{what}: expr is not valid PromQL ({exc})")
        if not rule.is_alert:
            continue
        if rule.for_ is None:
            if need_for:
                problems.append(f"{what} has no `for` (it would fire on one bad scrape)")
        else:
            try:
                promql_parser.parse_duration(rule.for_)
            except ValueError:
                problems.append(f"{what}: `for: {rule.for_}` is not a duration")
        if need_severity and not rule.labels.get("severity"):
            problems.append(f"{what} has no severity label")
        if need_runbook and not rule.annotations.get("runbook_url"):
            problems.append(f"{what} has no runbook_url annotation")
    alerts = {rule.name for rule in rules if rule.is_alert}
    problems.extend(f"required alert {name} is not in the rules" for name in required
                    if name not in alerts)  # fmt: skip
    return problems


def runbook_links(rules: list[Rule]) -> dict[str, list[str]]:
    """Each runbook URL and the alerts that point to it."""
    links: dict[str, list[str]] = {}
    for rule in rules:
        if rule.is_alert and (url := rule.annotations.get("runbook_url")):
            links.setdefault(url, []).append(rule.name)
    return links
