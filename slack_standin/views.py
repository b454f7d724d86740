"""The ``views.*`` methods: modals opened from a short-lived ``trigger_id``, the Home tab.

Slack accepts a ``trigger_id`` for 3 seconds after the click or command that made it;
the stand-in enforces that, and a ``hash`` that no longer matches is a ``hash_conflict``.
"""

from __future__ import annotations

import secrets

from slack_standin.limits import ApiError, SlackError, required, validate_view
from slack_standin.workspace import Json, View, Workspace


def new_view(ws: Workspace, user_id: str, payload: Json, previous: str | None = None) -> View:
    view = View(
        id=ws.new_id("V"),
        user_id=user_id,
        payload=payload,
        hash=secrets.token_hex(8),
        team_id=ws.team_id,
        app_id=ws.app_id,
        bot_id=ws.bot_id,
        previous_view_id=previous,
    )
    ws.views[view.id] = view
    return view


def _trigger_user(ws: Workspace, args: Json) -> str:
    trigger = ws.triggers.get(required(args, "trigger_id"))
    if trigger is None:
        raise ApiError("invalid_trigger_id")
    if ws.clock() - trigger.issued_at > ws.trigger_ttl:
        raise ApiError("expired_trigger_id")
    return trigger.user_id


def _view_arg(args: Json, surface: str) -> Json:
    view = args.get("view")
    err = validate_view(view, surface)
    if err or not isinstance(view, dict):
        raise ApiError.of(err or SlackError("invalid_arguments"))
    return view


def views_open(ws: Workspace, args: Json) -> Json:
    user_id = _trigger_user(ws, args)
    view = new_view(ws, user_id, _view_arg(args, "modal"))
    ws.open_modals[view.id] = view
    return {"view": view.to_slack()}


def views_push(ws: Workspace, args: Json) -> Json:
    user_id = _trigger_user(ws, args)
    below = [v for v in ws.open_modals.values() if v.user_id == user_id]
    previous = below[-1] if below else None
    view = new_view(ws, user_id, _view_arg(args, "modal"), previous.id if previous else None)
    view.root_view_id = previous.root_view_id or previous.id if previous else None
    ws.open_modals[view.id] = view
    return {"view": view.to_slack()}


def views_update(ws: Workspace, args: Json) -> Json:
    view: View | None = None
    if args.get("view_id"):
        view = ws.views.get(str(args["view_id"]))
    elif args.get("external_id"):
        matches = [
            v for v in ws.views.values() if v.payload.get("external_id") == args["external_id"]
        ]
        view = matches[-1] if matches else None
    if view is None:
        raise ApiError("not_found")
    if args.get("hash") and args["hash"] != view.hash:
        raise ApiError("hash_conflict")
    view.payload = _view_arg(args, view.type or "modal")
    view.hash = secrets.token_hex(8)
    view.errors = {}
    return {"view": view.to_slack()}


def views_publish(ws: Workspace, args: Json) -> Json:
    user_id = required(args, "user_id")
    if user_id not in ws.users:
        raise ApiError("user_not_found")
    payload = _view_arg(args, "home")
    view = ws.home_views.get(user_id)
    if view is not None and args.get("hash") and args["hash"] != view.hash:
        raise ApiError("hash_conflict")
    if view is None:
        view = ws.home_views[user_id] = new_view(ws, user_id, payload)
    view.payload = payload
    view.hash = secrets.token_hex(8)
    return {"view": view.to_slack()}
