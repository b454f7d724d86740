"""What ``bench/chaos.py --faults`` runs: the faults, their lengths, the plan and people."""

from __future__ import annotations

from dataclasses import dataclass, field

FAULTS = ("db-restart", "db-hang", "slack-outage", "disk-full", "clock-skew")
REQUESTER, SIGNERS = "U0RM", {"sre": "U0SRE1", "security": "U0SEC1"}
USERS = {REQUESTER: "rita", "U0SRE1": "sam", "U0SEC1": "sid"}
PATHS = {"version": "/version", "items": "/api/items", "item": "/api/items/{id}",
         "health": "/healthz"}  # fmt: skip
"""Each check's target route (the target's own counter label); no other check requests it."""
PLANS = {
    "staging": {"version": 1, "items": 5, "item": 2, "health": 1},  # about 9 s on ``slow``
    "long": {"version": 1, "items": 12, "item": 2, "health": 1},  # about 17 s (clock-skew)
    "quick": {"version": 1, "health": 1},
}
"""Each environment's plan (of the same name): its checks and how many requests each makes."""
HEADER = """\
channel: C0RELEASES
roles:
  sre: {members: [U0SRE1]}
  security: {members: [U0SEC1]}
policy: {required_signoffs: [sre, security]}
"""


def plan_yaml(url: str) -> str:
    """The bot's config: one environment and plan per entry of ``PLANS``, on ``url``."""
    lines = [HEADER.rstrip(), "environments:"]
    lines += [f'  {env}: {{base_url: "{url}", plan: {env}}}' for env in PLANS]
    lines.append("plans:")
    for env, checks in PLANS.items():
        lines += [f"  {env}:", "    checks:"]
        for check, count in checks.items():
            path = PATHS[check].replace("{id}", "1")
            requests = ", ".join([f'{{path: "{path}"}}'] * count)
            lines.append(
                f"      - {{id: {check}, type: http, timeout: 60s, requests: [{requests}]}}"
            )
    return "\n".join(lines) + "\n"


FULL = {"db-restart": (20.0,), "db-hang": (20.0,), "slack-outage": (60.0, 30.0),
        "disk-full": (30.0,), "clock-skew": (20.0,)}  # fmt: skip
QUICK = {"db-restart": (6.0,), "db-hang": (6.0,), "slack-outage": (6.0, 3.0),
         "disk-full": (6.0,), "clock-skew": (10.0,)}  # fmt: skip
SKEW = "+120s"
DISK_BYTES = 16 * 1024 * 1024


@dataclass
class Options:
    faults: tuple[str, ...] = FAULTS
    durations: dict[str, tuple[float, ...]] = field(default_factory=lambda: dict(FULL))
    executing: int = 3
    spacing: float = 4.0
    recovery: float = 120.0
    defects: tuple[str, ...] = ("slow",)
    database: str = ""  # "sqlite": every fault but disk-full on a SQLite file (the small test)
    workers: int = 1  # serve's worker children (0: serve executes the runs itself)
    told_within: float = 5.0  # seconds after a click or start for its private answer
    settle: float = 5.0  # seconds after the runs finished for the last messages

    @classmethod
    def quick(cls, faults: tuple[str, ...] = FAULTS) -> Options:
        return cls(faults, dict(QUICK), executing=2, spacing=3.5, recovery=60.0)


def parse_faults(value: str) -> tuple[str, ...]:
    """``db-restart,db-hang``: the faults in the order given; ValueError names the unknown."""
    names = tuple(n.strip() for n in value.split(",") if n.strip())
    unknown = [n for n in names if n not in FAULTS]
    if unknown or not names:
        raise ValueError(f"unknown fault {', '.join(unknown) or '(none)'}; known: "
                         f"{', '.join(FAULTS)}")  # fmt: skip
    return names
