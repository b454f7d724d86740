"""The plans the tests run, built in one place: most tests need the same small config (the
releases channel, one SRE, staging on a target with plan ``p`` of a few http checks), and
each used to carry its own copy of that YAML. Builders return the config's text; the
caller writes it with ``config_file``."""

from __future__ import annotations

from pathlib import Path
from textwrap import dedent, indent

SRE = "{sre: {members: [U0SRE1]}}"
"""The roles of most tests: one SRE, Sam."""
SRE_SIGNS = "{required_signoffs: [sre]}"
"""The policy of most tests: the SRE's sign-off is required."""


def http_check(check_id: str, *paths: str, timeout: str = "", extra: str = "") -> str:
    """One http check as a YAML list item: a GET of each path in turn (``timeout`` such as
    ``30s``; ``extra`` is more of the mapping, e.g. ``critical: false``)."""
    requests = ", ".join(f"{{path: {path}}}" for path in paths)
    more = (f", timeout: {timeout}" if timeout else "") + (f", {extra}" if extra else "")
    return f"- {{id: {check_id}, type: http{more}, requests: [{requests}]}}"


SMOKE_HEALTHZ = http_check("smoke", "/healthz")
SMOKE_VERSION = http_check("smoke", "/version")


def slow_items(times: int, check_id: str = "slow") -> str:
    """A check of ``times`` GETs of /api/items: with the target's ``slow`` defect each
    takes about 1.2 s, so the check lasts about ``1.2 * times`` s."""
    return http_check(check_id, *["/api/items"] * times, timeout="30s")


def staging_config(
    url: str,
    *checks: str,
    roles: str = SRE,
    policy: str | None = SRE_SIGNS,
    tail: str = "",
) -> str:
    """Channel C0RELEASES, ``roles``, ``policy`` (None: no policy key), environment
    ``staging`` on ``url`` with plan ``p`` of ``checks`` (YAML list items such as
    ``http_check`` returns), then ``tail`` (more top-level keys, e.g. ``github:``)."""
    lines = ["channel: C0RELEASES", f"roles: {roles}"]
    if policy is not None:
        lines.append(f"policy: {policy}")
    lines += [
        "environments:",
        f"  staging: {{base_url: {url}, plan: p}}",
        "plans:",
        "  p:",
        "    checks:",
    ]
    lines += [indent(check, "      ") for check in checks]
    return "\n".join(lines) + "\n" + tail


def plan_only(base_url: str, plan: str) -> str:
    """No channel nor roles: staging on ``base_url`` with plan ``p``, whose body is
    ``plan`` (any indentation; dedented and put under ``p:``)."""
    head = f"environments:\n  staging: {{base_url: {base_url}, plan: p}}\nplans:\n  p:\n"
    return head + indent(dedent(plan), "    ")


def config_file(tmp_path: Path, text: str) -> Path:
    """``tmp_path/preprod.yml`` holding ``text``."""
    path = tmp_path / "preprod.yml"
    path.write_text(text)
    return path


def write_plan(tmp_path: Path, base_url: str, plan: str) -> Path:
    """``config_file`` of ``plan_only(base_url, plan)``: the stage tests' configs."""
    return config_file(tmp_path, plan_only(base_url, plan))
