"""The interaction payloads preprod acts on, validated into typed models at the edge.

Slack always sends well-formed payloads, but a signed request can still carry anything
(a replay edited before signing with a leaked secret, a buggy proxy, a test). A missing
``user`` or ``trigger_id``, ``actions: []``, garbage ``private_metadata``, a missing
``view.state`` or a run id past the database's integer range must end in a clear "could
not read this action", never a KeyError (500) or an unmatched request (404)."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal, Self, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    model_validator,
)
from slack_bolt.request import payload_utils as bolt

from bot.gate.view import Target
from bot.input_limits import MAX_RUN_ID
from bot.slack.actions import (
    APPROVE,
    ATTEST,
    ATTEST_MODAL,
    REASON_BLOCK,
    REASON_INPUT,
    REJECT,
    REJECT_MODAL,
    WAIVE,
    WAIVE_MODAL,
)

GATE_ACTIONS = frozenset({APPROVE, REJECT, WAIVE, ATTEST})
MODALS = frozenset({REJECT_MODAL, WAIVE_MODAL, ATTEST_MODAL})
DB_INT = MAX_RUN_ID
"""The largest id every supported database stores (PostgreSQL ``integer``)."""

Id = Annotated[str, StringConstraints(min_length=1, max_length=255)]
_TARGET = re.compile(r"(\d{1,10}):(\d{1,10}):(.{1,255})", re.DOTALL)


class Unreadable(ValueError):
    """A payload of ours that cannot be acted on; says whom to tell, where, if known."""

    def __init__(self, kind: str, why: str, salvaged: Salvaged) -> None:
        super().__init__(f"{kind}: {why}")
        self.kind, self.why, self.salvaged = kind, why, salvaged


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class Ref(_Model):
    id: Id


class Container(_Model):
    channel_id: Id | None = None
    message_ts: str | None = None
    thread_ts: str | None = None


class MessageRef(_Model):
    ts: str | None = None
    thread_ts: str | None = None


class Action(_Model):
    action_id: Id
    value: str = Field(default="", max_length=2000)
    action_ts: str | None = None


class Click(_Model):
    """A click on a sign-off panel button (``block_actions``)."""

    type: Literal["block_actions"]
    user: Ref
    trigger_id: Id
    container: Container
    channel: Ref | None = None
    message: MessageRef | None = None
    actions: list[Action] = Field(min_length=1)

    @model_validator(mode="after")
    def _has_a_channel(self) -> Self:
        if self.channel_id is None:
            raise ValueError("no channel to answer in")
        return self

    @property
    def action(self) -> Action:
        return self.actions[0]

    @property
    def channel_id(self) -> str | None:
        return self.channel.id if self.channel else self.container.channel_id

    @property
    def thread_ts(self) -> str | None:
        message = self.message or MessageRef()
        return message.thread_ts or message.ts or self.container.thread_ts or (
            self.container.message_ts)  # fmt: skip

    @property
    def target(self) -> Target:
        return parse_target(self.action.value)


class Input(_Model):
    value: str | None = Field(default=None, max_length=3000)


class State(_Model):
    values: dict[str, dict[str, Input]]


class SubmittedView(_Model):
    id: Id
    callback_id: Id
    private_metadata: str = Field(max_length=3000)
    state: State
    hash: str | None = None


class Submission(_Model):
    """A submitted reason, justification or note modal (``view_submission``)."""

    type: Literal["view_submission"]
    user: Ref
    view: SubmittedView

    @property
    def target(self) -> Target:
        return parse_target(self.view.private_metadata)

    @property
    def text(self) -> str:
        found = self.view.state.values.get(REASON_BLOCK, {}).get(REASON_INPUT)
        return (found.value if found else None) or ""


class Salvaged(_Model):
    """What can still be read of a malformed payload: whom to tell and where."""

    user: str | None = None
    channel: str | None = None
    thread_ts: str | None = None
    run_id: int | None = None


def parse_target(value: str) -> Target:
    """A button value or modal metadata (``run:generation:subject``), ids in range."""
    match = _TARGET.fullmatch(value)
    if match is None:
        raise ValueError("not a run:generation:subject value")
    run_id, generation = int(match[1]), int(match[2])
    if not (1 <= run_id <= DB_INT and 0 <= generation <= DB_INT):
        raise ValueError("a run id or generation out of range")
    return Target(run_id, generation, match[3])


M = TypeVar("M", Click, Submission)


def read(body: Any) -> Click | Submission | None:
    """The payload as a model when it is one of ours (a gate button, a gate modal), None
    when it is not (Bolt routes it or answers that nobody handles it); Unreadable when it
    claims to be ours, or names nothing at all, but cannot be read."""
    if not isinstance(body, dict):
        return None
    kind = body.get("type")
    if kind == "block_actions":
        actions = body.get("actions")
        first = actions[0] if isinstance(actions, list) and actions else None
        action_id = first.get("action_id") if isinstance(first, dict) else None
        if isinstance(action_id, str) and action_id not in GATE_ACTIONS:
            return None
        return _validated(Click, body, "click", _target_of(first, "value"))
    if kind == "view_submission":
        view = body.get("view")
        callback = view.get("callback_id") if isinstance(view, dict) else None
        if isinstance(callback, str) and callback not in MODALS:
            return None
        return _validated(Submission, body, "modal", _target_of(view, "private_metadata"))
    return None


BOLT_READERS = (
    bolt.to_options, bolt.to_shortcut, bolt.to_action, bolt.to_view, bolt.to_command,
    bolt.to_event, bolt.to_message, bolt.to_step,
)  # fmt: skip
"""What Bolt reads out of every payload to build a listener's arguments, unguarded:
``to_step`` reads ``view["type"]`` of any view submission (Slack always sends one; a view
without it was a KeyError in Bolt and a 500, found by tests/test_hostile_property.py)."""


def check_bolt_can_read(body: Any) -> None:
    """Unreadable when Bolt's own readers would raise on ``body``."""
    if not isinstance(body, dict):
        return
    for reader in BOLT_READERS:
        try:
            reader(body)
        except Exception as exc:
            why = f"Bolt cannot read it ({type(exc).__name__} in {reader.__name__})"
            raise Unreadable("payload", why, salvage(body, None)) from None


def _validated(model: type[M], body: dict[str, Any], kind: str, target: Target | None) -> M:
    try:
        found = model.model_validate(body)
        found.target  # noqa: B018  (the target must decode too)
    except (ValidationError, ValueError) as exc:
        raise Unreadable(kind, _why(exc), salvage(body, target)) from None
    return found


def _why(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "payload"
        return f"{where}: {first['msg']}"[:200]
    return str(exc)[:200]


def _target_of(holder: object, key: str) -> Target | None:
    value = holder.get(key) if isinstance(holder, dict) else None
    try:
        return parse_target(value) if isinstance(value, str) else None
    except ValueError:
        return None


def salvage(body: dict[str, Any], target: Target | None) -> Salvaged:
    """Whoever and wherever a malformed payload still names, field by field."""

    def text(holder: object, key: str) -> str | None:
        value = holder.get(key) if isinstance(holder, dict) else None
        return value if isinstance(value, str) and 0 < len(value) <= 255 else None

    container, message = body.get("container"), body.get("message")
    return Salvaged(
        user=text(body.get("user"), "id"),
        channel=text(body.get("channel"), "id") or text(container, "channel_id"),
        thread_ts=text(message, "thread_ts")
        or text(message, "ts")
        or text(container, "thread_ts")
        or text(container, "message_ts"),
        run_id=target.run_id if target else None,
    )
