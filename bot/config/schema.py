"""The shape of ``preprod.yml``: roles, policy, schedule, environments, plans, and which
GitHub repositories and environments a deployment protection rule starts runs for."""

from __future__ import annotations

import re
from datetime import UTC
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator

from bot.config.cron import cron_trigger
from bot.config.hours import WorkingHours, parse_working_hours
from checks.context import CREDENTIAL_HEADERS, Target
from checks.quantities import Duration
from checks.spec import PlanSpec


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Role(_Strict):
    label: str | None = None
    members: list[str] = Field(default_factory=list)
    usergroup: str | None = None
    min_approvals: int = Field(default=1, ge=1)

    @model_validator(mode="after")
    def _has_people(self) -> Role:
        if not self.members and not self.usergroup:
            raise ValueError("expected `members` (Slack user ids) or a `usergroup` id")
        return self


class Policy(_Strict):
    required_signoffs: list[str] | None = None
    """Roles that must approve; all configured roles when left out."""
    requester_may_sign: bool = False
    """May the person who started a run approve it? (Four eyes: no.)"""
    requester_may_waive: bool = False
    """May they waive a failure of their own run?"""
    requester_may_attest: bool = False
    """May they tick a blocking attestation of their own run?"""
    one_role_per_person: bool = True
    signoff_deadline: Duration = 24 * 3600.0
    waivers_by: list[str] = Field(default_factory=lambda: ["sre"])

    @field_validator("required_signoffs", "waivers_by")
    @classmethod
    def _no_repeats(cls, roles: list[str] | None) -> list[str] | None:
        if roles and (twice := sorted({r for r in roles if roles.count(r) > 1})):
            raise ValueError(f"role {twice[0]!r} is listed twice")
        return roles


class Schedule(_Strict):
    """When reminders go out; times are in the config's ``timezone``."""

    digest: str | None = "0 9 * * mon-fri"
    """A cron expression; null turns the digest (and its DMs) off."""
    post_empty_digest: bool = False
    misfire_grace: Duration = 3600.0
    """A digest missed while the bot was down is posted on start-up within this long."""
    nudge_after: Duration | None = 4 * 3600.0
    """After the checks finished, a run still missing a role nudges it; null: never."""
    nudge_every: Duration = 4 * 3600.0
    warn_before: Duration | None = 2 * 3600.0
    """A warning this long before the sign-off deadline, once; null: none."""
    working_hours: str | None = "mon-fri 09:00-18:00"
    """Nudges and DMs only in these hours (null: any time)."""

    @field_validator("digest")
    @classmethod
    def _cron(cls, value: str | None) -> str | None:
        if value is not None:
            cron_trigger(value, UTC)  # the zone is checked on its own key
        return value

    @field_validator("working_hours")
    @classmethod
    def _hours(cls, value: str | None) -> str | None:
        if value is not None:
            parse_working_hours(value)
        return value

    @field_validator("nudge_every")
    @classmethod
    def _not_too_often(cls, value: float) -> float:
        if value < 60:
            raise ValueError("expected at least 1m between nudges")
        return value

    @property
    def hours(self) -> WorkingHours | None:
        return parse_working_hours(self.working_hours) if self.working_hours else None


class AuditPublishing(_Strict):
    """Where the audit chain's head is published outside the database, and when: a
    signed checkpoint line in a Slack channel, appended to a file, POSTed to a URL."""

    channel: str | None = None
    """The Slack channel id checkpoints are posted in."""
    checkpoint: str = "0 6 * * *"
    """A cron expression in the config's time zone: when a checkpoint is published."""
    file: Path | None = None
    """A file each checkpoint line is appended to."""
    url: str | None = None
    """A URL each checkpoint line is POSTed to (text/plain)."""
    timeout: Duration = 10.0
    """How long the POST may take; a failure is logged, never fatal."""

    @field_validator("checkpoint")
    @classmethod
    def _cron(cls, value: str) -> str:
        cron_trigger(value, UTC)
        return value

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            shown = value if len(value) <= 60 else value[:60] + "..."
            raise ValueError(f"expected an http:// or https:// URL, got {shown!r}")
        return value

    @field_validator("timeout")
    @classmethod
    def _bounded(cls, value: float) -> float:
        if not 0 < value <= 60:
            raise ValueError("expected a timeout above 0s and at most 60s")
        return value

    @property
    def published(self) -> bool:
        """True when checkpoints go anywhere (else the job is not scheduled)."""
        return bool(self.channel or self.file or self.url)


class Starters(_Strict):
    """Who may start a run from Slack: anyone in these channels, or these users anywhere.
    With neither given, the release ``channel`` (or anywhere, without one)."""

    channels: list[str] = Field(default_factory=list)
    users: list[str] = Field(default_factory=list)


class Environment(_Strict):
    base_url: str
    production_url: str | None = None
    previous_version: str | None = Field(default=None, min_length=1, max_length=64)
    """The version before this release: drills get it as PREPROD_PREVIOUS_VERSION."""
    plan: str
    headers: dict[str, str] = Field(default_factory=dict)
    ca_bundle: Path | None = None
    started_by: list[str] | None = None
    """Roles whose members may start runs on this environment (None: the plan decides)."""
    supersede: bool = False
    """A pipeline's request for another version of a service on this environment decides
    the service's older undecided runs here as SUPERSEDED (newest request wins)."""
    channel: str | None = None
    """The Slack channel id this environment's runs live in (left out: the release
    ``channel``), so that busy environments do not share one channel's posting rate."""

    @field_validator("base_url", "production_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            shown = value if len(value) <= 60 else value[:60] + "..."
            raise ValueError(f"expected an http:// or https:// URL, got {shown!r}")
        return value.rstrip("/") if value else value


class Plan(PlanSpec):
    """A plan of ``preprod.yml``: the checks' plan, and who may start it."""

    started_by: list[str] | None = None
    """Roles whose members may start it; left out: the roles that sign when the plan has
    a drill (it breaks something on purpose), else anyone."""

    @property
    def has_drills(self) -> bool:
        return any(spec.type == "drill" for spec in self.checks)


REPOSITORY = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{0,38}/[A-Za-z0-9._-]{1,100}")
"""``owner/name`` as GitHub spells it."""


class GitHubTarget(_Strict):
    """What a GitHub environment's waiting job asks preprod to validate."""

    service: str = Field(min_length=1, max_length=100)
    environment: str
    """An environment of this file (where the checks run, e.g. staging before production)."""
    plan: str | None = None
    """A plan of this file; left out: the environment's own."""


class GitHubRepository(_Strict):
    environments: dict[str, GitHubTarget] = Field(min_length=1)
    """GitHub's environment names (case-insensitive, as on GitHub) to what they start."""


class GitHubSection(_Strict):
    """``github:``: the repositories whose protection rule starts runs (the App's secrets
    are in the ``PREPROD_GITHUB_*`` variables, never here)."""

    repositories: dict[str, GitHubRepository] = Field(default_factory=dict)
    reject_unmapped: bool = True
    """Reject, with a comment, a job of a repository or environment not mapped here."""

    @field_validator("repositories")
    @classmethod
    def _owner_and_name(cls, value: dict[str, GitHubRepository]) -> dict[str, GitHubRepository]:
        for name in value:
            if not REPOSITORY.fullmatch(name):
                raise ValueError(f"expected owner/name repository keys, got {name[:60]!r}")
        return value

    def target(self, repository: str, environment: str) -> GitHubTarget | None:
        """The mapping of ``repository``'s ``environment`` (both case-insensitive), if any."""
        repo = next(
            (r for n, r in self.repositories.items() if n.lower() == repository.lower()), None
        )
        if repo is None:
            return None
        wanted = environment.lower()
        return next((t for n, t in repo.environments.items() if n.lower() == wanted), None)


class Config(_Strict):
    channel: str | None = None
    timezone: str = "UTC"
    roles: dict[str, Role] = Field(default_factory=dict)
    policy: Policy = Field(default_factory=Policy)
    schedule: Schedule = Field(default_factory=Schedule)
    starters: Starters = Field(default_factory=Starters)
    audit: AuditPublishing = Field(default_factory=AuditPublishing)
    environments: dict[str, Environment] = Field(min_length=1)
    plans: dict[str, Plan] = Field(min_length=1)
    github: GitHubSection | None = None

    _source: Path = PrivateAttr(default=Path("preprod.yml"))
    _secrets: frozenset[str] = PrivateAttr(default=frozenset())
    _digest: str = PrivateAttr(default="")
    _text: str = PrivateAttr(default="")

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"expected an IANA time zone such as Europe/Berlin, got {value!r}"
            ) from None
        return value

    @model_validator(mode="after")
    def _github_names_known(self) -> Config:
        if self.github is None:
            return self
        for repo, spec in self.github.repositories.items():
            for name, target in spec.environments.items():
                where = f"github.repositories.{repo}.environments.{name}"
                if target.environment not in self.environments:
                    known = ", ".join(sorted(self.environments))
                    raise ValueError(
                        f"{where}.environment: {target.environment!r} is not an environment "
                        f"of this file (expected one of {known})"
                    )
                if target.plan is not None and target.plan not in self.plans:
                    known = ", ".join(sorted(self.plans))
                    raise ValueError(
                        f"{where}.plan: {target.plan!r} is not a plan of this file "
                        f"(expected one of {known})"
                    )
        return self

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def role_labels(self) -> dict[str, str]:
        """Each role's name as people read it (its ``label``, else its key)."""
        return {role: spec.label or role for role, spec in self.roles.items()}

    @property
    def source(self) -> Path:
        return self._source

    @property
    def secrets(self) -> frozenset[str]:
        """Values that must never appear in evidence, logs or reports."""
        return self._secrets

    @property
    def digest(self) -> str:
        """SHA-256 of the file as read, recorded with every run."""
        return self._digest

    @property
    def text(self) -> str:
        """The file as read (``${VAR}`` references unexpanded); the engine keeps it,
        redacted, with every run it configures."""
        return self._text

    @property
    def required_roles(self) -> list[str]:
        if self.policy.required_signoffs is not None:
            return list(self.policy.required_signoffs)
        return list(self.roles)

    def may_start(self, user: str, channel: str) -> bool:
        channels = self.starters.channels or ([self.channel] if self.channel else [])
        if not channels and not self.starters.users:
            return True
        return channel in channels or user in self.starters.users

    def start_rules(self, environment: str, plan: str) -> list[tuple[str, list[str]]]:
        """Who may start ``plan`` on ``environment``: each rule names what it guards and
        the roles that may; a person must satisfy every rule (none: anyone may). A plan
        with a drill and no ``started_by`` is kept to the roles that sign."""
        rules: list[tuple[str, list[str]]] = []
        env = self.environments.get(environment)
        if env is not None and env.started_by is not None:
            rules.append((f"environment {environment}", list(env.started_by)))
        found = self.plans.get(plan)
        if found is not None and found.started_by is not None:
            rules.append((f"plan {plan}", list(found.started_by)))
        elif found is not None and found.has_drills:
            rules.append((f"plan {plan} (it has drills)", self.required_roles))
        return rules

    def role_members(self) -> set[str]:
        """Users named in any role (usergroups are resolved through Slack, elsewhere)."""
        return {member for role in self.roles.values() for member in role.members}

    def target(self, env_name: str) -> Target:
        env = self.environments[env_name]
        return Target(
            name=env_name,
            base_url=env.base_url,
            production_url=env.production_url,
            previous_version=env.previous_version,
            headers=dict(env.headers),
            ca_bundle=env.ca_bundle,
        )


def header_secrets(headers: dict[str, str]) -> set[str]:
    """Credential header values, and the token part of ``Bearer <token>``."""
    found: set[str] = set()
    for name, value in headers.items():
        if name.lower() in CREDENTIAL_HEADERS or "token" in name.lower() or "key" in name.lower():
            found.add(value)
            scheme, _, credential = value.partition(" ")
            if credential and scheme.lower() in ("bearer", "basic", "token"):
                found.add(credential)
    return found
