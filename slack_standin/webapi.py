"""The Web API methods the bot uses, acting on the workspace model like Slack would.

Each method takes the call's arguments (already merged from query, form or JSON body,
with ``blocks``/``view`` parsed) and returns the success fields, or raises ``ApiError``
with Slack's error name. Limits are checked before anything changes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from slack_standin.limits import ApiError, parse_json_arg, required, validate_message
from slack_standin.views import views_open, views_publish, views_push, views_update
from slack_standin.workspace import Channel, Json, Message, Workspace

Method = Callable[[Workspace, Json], Json]
PARSED_ARGS = ("blocks", "attachments", "view")


def parse_args(raw: Json) -> Json:
    """Parse the JSON-string arguments (``blocks``, ``view``) that form posts carry."""
    args = dict(raw)
    for key in PARSED_ARGS:
        if key in args and args[key] not in (None, ""):
            try:
                args[key] = parse_json_arg(args[key])
            except ValueError:
                name = "invalid_blocks_format" if key == "blocks" else "invalid_arguments"
                raise ApiError(
                    name, f"[ERROR] failed to parse json [json-pointer:/{key}]"
                ) from None
    return args


def _channel(ws: Workspace, args: Json) -> Channel:
    channel = ws.resolve_channel(required(args, "channel", "channel_not_found"))
    if channel is None:
        raise ApiError("channel_not_found")
    return channel


def _check_message(args: Json) -> None:
    err = validate_message(args.get("text"), args.get("blocks"), args.get("attachments"))
    if err:
        raise ApiError.of(err)


def auth_test(ws: Workspace, args: Json) -> Json:
    return {
        "url": f"https://{ws.team_domain}.slack.com/",
        "team": "Stand-in",
        "user": "preprod",
        "team_id": ws.team_id,
        "user_id": ws.bot_user_id,
        "bot_id": ws.bot_id,
        "is_enterprise_install": False,
    }


def post_message(ws: Workspace, args: Json) -> Json:
    channel = _channel(ws, args)
    _check_message(args)
    thread_ts = args.get("thread_ts") or None
    parent: Message | None = None
    if thread_ts:
        parent = channel.by_ts.get(str(thread_ts))
        if parent is None:
            raise ApiError("thread_not_found")
        if parent.is_reply and parent.thread_ts:
            parent = channel.by_ts[parent.thread_ts]
    msg = post(ws, channel, args.get("text"), args.get("blocks"), parent)
    msg.metadata = _metadata(args.get("metadata"))
    return {"channel": channel.id, "ts": msg.ts, "message": msg.to_slack(ws.team_id)}


def _metadata(raw: Any) -> Json | None:
    """Message metadata as Slack takes it: an object (or its JSON) with ``event_type`` and
    an ``event_payload`` object."""
    if raw in (None, ""):
        return None
    try:
        value = parse_json_arg(raw) if isinstance(raw, str) else raw
    except ValueError:
        raise ApiError("invalid_metadata_format") from None
    if not (
        isinstance(value, dict)
        and isinstance(value.get("event_type"), str)
        and isinstance(value.get("event_payload"), dict)
    ):
        raise ApiError("invalid_metadata_schema")
    return dict(value)


def post(
    ws: Workspace,
    channel: Channel,
    text: Any,
    blocks: list[Json] | None,
    parent: Message | None = None,
    user: str | None = None,
) -> Message:
    """Store a new message (a thread reply when ``parent`` is given)."""
    msg = Message(
        channel=channel.id,
        ts=ws.next_ts(),
        text=str(text or ""),
        blocks=list(blocks or []),
        user=user or ws.bot_user_id,
        bot_id=None if user else ws.bot_id,
    )
    if parent is not None:
        parent.thread_ts = parent.ts
        parent.replies.append(msg.ts)
        msg.thread_ts = parent.ts
    channel.by_ts[msg.ts] = msg
    return msg


def chat_update(ws: Workspace, args: Json) -> Json:
    channel = _channel(ws, args)
    msg = channel.by_ts.get(required(args, "ts", "message_not_found"))
    if msg is None:
        raise ApiError("message_not_found")
    if msg.bot_id != ws.bot_id:
        raise ApiError("cant_update_message")
    _check_message(args)
    msg.edit(args.get("text"), args.get("blocks"))
    return {
        "channel": channel.id,
        "ts": msg.ts,
        "text": msg.text,
        "message": msg.to_slack(ws.team_id),
    }


def chat_delete(ws: Workspace, args: Json) -> Json:
    channel = _channel(ws, args)
    ts = required(args, "ts", "message_not_found")
    if ts not in channel.by_ts:
        raise ApiError("message_not_found")
    del channel.by_ts[ts]
    return {"channel": channel.id, "ts": ts}


def post_ephemeral(ws: Workspace, args: Json) -> Json:
    channel = _channel(ws, args)
    user = required(args, "user", "user_not_found")
    if user not in ws.users:
        raise ApiError("user_not_found")
    _check_message(args)
    msg = Message(
        channel=channel.id,
        ts=ws.next_ts(),
        text=str(args.get("text") or ""),
        blocks=list(args.get("blocks") or []),
        user=ws.bot_user_id,
        bot_id=ws.bot_id,
        thread_ts=args.get("thread_ts") or None,
        ephemeral_to=user,
    )
    ws.ephemerals.setdefault(user, []).append(msg)
    return {"message_ts": msg.ts}


def conversations_open(ws: Workspace, args: Json) -> Json:
    if args.get("channel"):
        return {"channel": {"id": _channel(ws, args).id}}
    raw = args.get("users")
    users = raw if isinstance(raw, list) else str(raw or "").split(",")
    users = [u.strip() for u in users if u and u.strip()]
    if not users:
        raise ApiError("users_list_not_supplied")
    for user in users:
        if user not in ws.users:
            raise ApiError("user_not_found")
    if len(users) == 1:
        already = ("D" + users[0].removeprefix("U")) in ws.channels
        return {"channel": {"id": ws.dm_channel(users[0]).id}, "already_open": already}
    group = ws.add_channel("G" + "".join(sorted(u.removeprefix("U") for u in users)), "mpdm")
    return {"channel": {"id": group.id}}


def get_permalink(ws: Workspace, args: Json) -> Json:
    """A link to a message (a thread's parent, a reply) as Slack shows it."""
    channel = _channel(ws, args)
    ts = required(args, "message_ts", "message_not_found")
    message = channel.by_ts.get(ts)
    if message is None:
        raise ApiError("message_not_found")
    link = f"https://{ws.team_domain}.slack.com/archives/{channel.id}/p{ts.replace('.', '')}"
    if message.is_reply and message.thread_ts:
        link += f"?thread_ts={message.thread_ts}&cid={channel.id}"
    return {"channel": channel.id, "permalink": link}


def conversations_history(ws: Workspace, args: Json) -> Json:
    """Top-level messages, newest first, ``limit`` of them (default 100), before
    ``latest`` (a ts; included with ``inclusive``) or the ``cursor`` of the page before,
    as Slack pages them (``response_metadata.next_cursor``)."""
    channel = _channel(ws, args)
    cursor = str(args.get("cursor") or "")
    latest = cursor.removeprefix("before:") if cursor else str(args.get("latest") or "")
    inclusive = not cursor and _flag(args.get("inclusive"))
    older = [
        m
        for m in reversed(channel.messages)
        if not latest or float(m.ts) < float(latest) or (inclusive and m.ts == latest)
    ]
    found = older[: _limit(args)]
    metadata = _flag(args.get("include_all_metadata"))
    more = len(older) > len(found)
    return {
        "messages": [m.to_slack(ws.team_id, with_metadata=metadata) for m in found],
        "has_more": more,
        "response_metadata": {"next_cursor": f"before:{found[-1].ts}" if more else ""},
    }


def conversations_replies(ws: Workspace, args: Json) -> Json:
    """A thread: its parent first, then the replies oldest first."""
    channel = _channel(ws, args)
    parent = channel.by_ts.get(required(args, "ts", "thread_not_found"))
    if parent is None:
        raise ApiError("thread_not_found")
    thread = [parent, *channel.thread(parent.ts)][: _limit(args)]
    metadata = _flag(args.get("include_all_metadata"))
    return {
        "messages": [m.to_slack(ws.team_id, with_metadata=metadata) for m in thread],
        "has_more": False,
    }


def _limit(args: Json) -> int:
    try:
        return max(1, min(int(args.get("limit") or 100), 1000))
    except (TypeError, ValueError):
        raise ApiError("invalid_limit") from None


def _flag(value: Any) -> bool:
    return value is True or str(value).lower() in ("true", "1")


def usergroups_users_list(ws: Workspace, args: Json) -> Json:
    group = required(args, "usergroup", "no_such_subteam")
    if group not in ws.usergroups:
        raise ApiError("no_such_subteam")
    return {"users": list(ws.usergroups[group])}


def users_info(ws: Workspace, args: Json) -> Json:
    user = ws.users.get(required(args, "user", "user_not_found"))
    if user is None:
        raise ApiError("user_not_found")
    return {"user": user.to_slack(ws.team_id)}


METHODS: dict[str, Method] = {
    "auth.test": auth_test,
    "chat.postMessage": post_message,
    "chat.update": chat_update,
    "chat.delete": chat_delete,
    "chat.postEphemeral": post_ephemeral,
    "views.open": views_open,
    "views.push": views_push,
    "views.update": views_update,
    "views.publish": views_publish,
    "chat.getPermalink": get_permalink,
    "conversations.open": conversations_open,
    "conversations.history": conversations_history,
    "conversations.replies": conversations_replies,
    "usergroups.users.list": usergroups_users_list,
    "users.info": users_info,
}


def call(ws: Workspace, method: str, args: Json) -> Json:
    """Run one method: ``{"ok": true, ...}`` or ``{"ok": false, "error": ...}``."""
    handler = METHODS.get(method)
    if handler is None:
        return {"ok": False, "error": "unknown_method"}
    try:
        return {"ok": True, **handler(ws, args)}
    except ApiError as err:
        return err.slack.body()
