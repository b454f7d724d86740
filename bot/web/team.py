"""Only the bot's own workspace may talk to it.

A signature proves a request comes from Slack for this app, not from which workspace:
an app installed in a second workspace (or distributed) signs every workspace's requests
with the same secret. So after the signature (and Bolt's authorisation), every request
is compared with the workspace the bot serves: ``PREPROD_SLACK_TEAM_ID`` when it is set,
else the workspace of the bot token (``auth.test``, which Bolt calls once and keeps). A
request that names another workspace is answered with an empty 200 and changes nothing:
a non-200 makes Slack retry events (and eventually disable the subscription) and shows
the person a "dispatch failed" error naming the app; an empty 200 shows nothing. It is
logged in one line, without the body. Being a Bolt middleware, this holds over HTTP and
Socket Mode alike."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from slack_bolt.middleware.async_middleware import AsyncMiddleware
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse

log = logging.getLogger(__name__)

SHOWN = 24
"""Characters of a workspace id put in a log line (Slack's are ~11)."""


def named_teams(payload: Mapping[str, Any]) -> list[str]:
    """Every workspace the payload says it comes from: ``team_id`` (slash commands),
    ``team.id`` and ``user.team_id`` (clicks, modal submissions: a person from another
    workspace in a shared channel is not one of ours), and for an event the workspace it
    was delivered for (``authorizations[0].team_id``, else ``team_id``)."""
    if payload.get("type") == "event_callback":
        authorizations = payload.get("authorizations")
        first = authorizations[0] if isinstance(authorizations, list) and authorizations else None
        candidates = [first.get("team_id") if isinstance(first, dict) else payload.get("team_id")]
    else:
        team, user = payload.get("team"), payload.get("user")
        candidates = [
            payload.get("team_id"),
            team.get("id") if isinstance(team, dict) else team,
            user.get("team_id") if isinstance(user, dict) else None,
        ]
    return [c for c in candidates if isinstance(c, str) and c]


def foreign_team(payload: Mapping[str, Any], ours: str) -> str | None:
    """The first workspace named by ``payload`` that is not ``ours``; None when every one
    is ours (or none is named: Slack names one in everything it sends, and Bolt answers
    what it cannot route)."""
    return next((team for team in named_teams(payload) if team != ours), None)


def kind_of(payload: Mapping[str, Any]) -> str:
    """What the request was, for the log: ``command /preprod``, ``block_actions``, ..."""
    command = payload.get("command")
    if isinstance(command, str):
        return f"command {command[:SHOWN]!r}"
    kind = payload.get("type")
    return repr(kind[:SHOWN]) if isinstance(kind, str) else "request"


class PinnedToWorkspace(AsyncMiddleware):
    """The Bolt middleware refusing other workspaces: ``configured`` (the settings'
    team id), else the bot token's workspace as Bolt's ``auth.test`` found it. A class,
    not a function: Bolt builds a function middleware's arguments from the payload, which
    raises on a malformed click before anything could refuse it."""

    def __init__(self, configured: str | None) -> None:
        self.configured = configured

    async def async_process(
        self,
        *,
        req: AsyncBoltRequest,
        resp: BoltResponse,
        next: Callable[[], Awaitable[BoltResponse]],
    ) -> BoltResponse | None:
        authorised = req.context.authorize_result
        ours = self.configured or (authorised.team_id if authorised is not None else None)
        if ours and (stranger := foreign_team(req.body, ours)) is not None:
            log.warning(
                "refused a Slack %s from workspace %r: this bot serves %s",
                kind_of(req.body),
                stranger[:SHOWN],
                ours,
            )
            return BoltResponse(status=200, body="")
        return await next()


def announce(configured: str | None) -> None:
    """Say once at start-up which workspace requests are pinned to."""
    if configured:
        log.info("Slack requests are accepted from workspace %s only", configured)
    else:
        log.info(
            "PREPROD_SLACK_TEAM_ID is not set: Slack requests are accepted only from the "
            "bot token's workspace (auth.test)"
        )
