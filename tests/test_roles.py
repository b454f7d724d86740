"""Role membership: listed members plus Slack usergroups, looked up and cached briefly."""

from __future__ import annotations

from pathlib import Path

from bot.config.loader import load_config
from bot.gate.roles import RoleDirectory

CONFIG = """\
roles:
  sre: {label: SRE, members: [U1], usergroup: S0SRE}
  security: {members: [U3]}
policy: {waivers_by: [sre]}
environments: {staging: {base_url: "http://127.0.0.1:9", plan: p}}
plans: {p: {checks: [{id: smoke, type: http, requests: [{path: /}]}]}}
"""


async def test_usergroups_are_resolved_and_cached(tmp_path: Path) -> None:
    path = tmp_path / "preprod.yml"
    path.write_text(CONFIG)
    lookups: list[str] = []
    groups = {"S0SRE": ["U2", "U5"]}
    now = [0.0]

    async def lookup(usergroup: str) -> list[str]:
        lookups.append(usergroup)
        return groups[usergroup]

    directory = RoleDirectory(load_config(path), lookup, ttl=300, clock=lambda: now[0])
    assert await directory.members("sre") == {"U1", "U2", "U5"}
    assert await directory.members("security") == {"U3"}
    assert await directory.members("nobody") == set()
    assert await directory.roles_of("U5") == ["sre"]
    assert await directory.waivers() == {"U1", "U2", "U5"}
    assert directory.label("sre") == "SRE" and directory.label("security") == "security"
    assert lookups == ["S0SRE"]  # cached
    groups["S0SRE"] = ["U9"]
    now[0] = 301.0
    assert await directory.members("sre") == {"U1", "U9"}
    assert lookups == ["S0SRE", "S0SRE"]
