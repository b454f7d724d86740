"""The web view's HTML: one channel as one user sees it, rendered from the workspace.

Pure functions of the workspace state: messages and the user's own ephemerals in time
order (thread replies under their parent), Block Kit blocks with mrkdwn rendered as
Slack does (slack_standin.mrkdwn), message times as the viewer's clock time, the user's
open modals and App Home. Every interactive element is a plain form (works without JS).
"""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo
from html import escape
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from slack_standin.mrkdwn import Names, clock, render, render_plain
from slack_standin.workspace import Json, Message, View, Workspace

STYLE = """
body{font:15px/1.45 system-ui,sans-serif;margin:0;display:flex;min-height:100vh;color:#1d1c1d}
nav{width:230px;background:#3f0e40;color:#eee;padding:12px;flex-shrink:0} nav a{color:#eee}
main{flex:1;padding:12px 20px;max-width:900px} .msg{padding:6px 0}
.who{font-weight:700} .app{font-size:11px;background:#ddd;border-radius:3px;padding:0 3px}
.ts{color:#616061;font-size:12px;margin-left:4px} .text{white-space:pre-wrap}
.thread{margin:4px 0 4px 28px;border-left:3px solid #ddd;padding-left:10px}
.eph{background:#f8f8f8;border-left:3px solid #1264a3;padding-left:8px}
.only{color:#616061;font-size:12px} .ctx{color:#616061;font-size:13px}
.mention{background:#e8f5fa;color:#1264a3;border-radius:3px;padding:0 2px;text-decoration:none}
code{background:#f6f6f6;border:1px solid #ddd;border-radius:3px;color:#c01343;padding:0 3px}
pre{background:#f6f6f6;border:1px solid #ddd;border-radius:4px;padding:8px;margin:4px 0}
blockquote{border-left:4px solid #ddd;margin:0;padding-left:8px;display:inline-block}
form.inline{display:inline} button{margin:2px;cursor:pointer} .fields{display:flex;gap:24px}
.primary{background:#007a5a;color:#fff} .danger{background:#e01e5a;color:#fff}
.modal{border:2px solid #1264a3;border-radius:6px;padding:10px;margin:10px 0;background:#fff}
.err{color:#e01e5a} #composer{position:sticky;bottom:0;background:#fff;padding:8px 0}
#composer input{width:70%;font-size:15px;padding:6px}
"""
LIVE_JS = """<script>
(function(){
  var q = location.search;
  function refresh(){
    fetch('/ui/live' + q).then(function(r){return r.text()}).then(function(html){
      var live = document.getElementById('live'), kept = {}, focus = document.activeElement;
      live.querySelectorAll('textarea,input[type=text]').forEach(function(el){
        kept[el.name] = el.value;});
      var focused = focus && live.contains(focus) ? focus.name : null;
      live.innerHTML = html;
      live.querySelectorAll('textarea,input[type=text]').forEach(function(el){
        if (kept[el.name] !== undefined) el.value = kept[el.name];
        if (el.name === focused) el.focus();});
    });
  }
  if (window.EventSource) {
    new EventSource('/ui/events' + q).addEventListener('change', refresh);
  } else { setInterval(refresh, 2000); }
})();
</script>"""


def zone_name(tz: tzinfo) -> str:
    """The viewer's zone as the page labels it: ``Europe/Berlin (CET)``, or ``UTC``."""
    key = getattr(tz, "key", None)
    short = datetime.now(tz).strftime("%Z")
    if not key or key == short:
        return short or str(tz)
    return f"{key} ({short})"


def names_for(ws: Workspace, user: str, channel_id: str) -> Names:
    """What mrkdwn refers to, as ``user`` sees it (their zone; channel links keep them)."""
    found = ws.users.get(user)
    return Names(
        users={u.id: u.name for u in ws.users.values()},
        channels={c.id: c.name for c in ws.channels.values()},
        tz=ZoneInfo(found.tz) if found else UTC,
        now=datetime.now(UTC),
        channel_href=lambda c: "/?" + urlencode({"as": user, "in": c}),
    )


def _text(obj: Any, names: Names) -> str:
    """A text object: mrkdwn rendered, plain_text escaped (emoji unless turned off)."""
    if not isinstance(obj, dict):
        return ""
    text = str(obj.get("text", ""))
    if obj.get("type") == "mrkdwn":
        return render(text, names)
    return render_plain(text, emoji=obj.get("emoji", True) is not False)


def _hidden(**fields: str | None) -> str:
    return "".join(
        f'<input type="hidden" name="{escape(k)}" value="{escape(v)}">'
        for k, v in fields.items()
        if v
    )


def blocks_html(blocks: list[Json], msg: Message | None, ctx: dict[str, str], n: Names) -> str:
    """Block Kit as HTML; buttons become forms when they belong to a message."""
    out: list[str] = []
    for block in blocks:
        kind = block.get("type")
        if kind in ("section", "header"):
            tag = "h3" if kind == "header" else "div"
            if block.get("text"):
                out.append(f'<{tag} class="text">{_text(block.get("text"), n)}</{tag}>')
            fields = "".join(
                f'<div class="text">{_text(f, n)}</div>' for f in block.get("fields", [])
            )
            out.append(f'<div class="fields">{fields}</div>' if fields else "")
        elif kind == "markdown":
            out.append(f'<div class="text">{render(str(block.get("text", "")), n)}</div>')
        elif kind == "context":
            items = [
                _text(e, n) if e.get("type") != "image" else escape(str(e.get("alt_text", "")))
                for e in block.get("elements", [])
            ]
            out.append(f'<div class="ctx text">{" ".join(items)}</div>')
        elif kind == "divider":
            out.append("<hr>")
        elif kind == "image":
            out.append(f'<div class="ctx">[image: {escape(str(block.get("alt_text", "")))}]</div>')
        elements = block.get("elements", []) if kind == "actions" else []
        elements += [block["accessory"]] if isinstance(block.get("accessory"), dict) else []
        for el in elements:
            if el.get("type") == "button":
                out.append(_button(msg, block.get("block_id"), el, ctx, n))
    return "".join(out)


def _button(
    msg: Message | None, block_id: str | None, el: Json, ctx: dict[str, str], n: Names
) -> str:
    style, label = escape(str(el.get("style", ""))), _text(el.get("text"), n)
    url = str(el.get("url") or "")
    if url.startswith(("http://", "https://")):  # a link button: the browser opens it
        link = f'<a href="{escape(url)}" target="_blank" rel="noopener">'
        return f"{link}<button>{label}</button></a>"
    if msg is None:
        return f'<button class="{style}" disabled>{label}</button>'
    fields = _hidden(
        ts=msg.ts,
        channel=msg.channel,
        action_id=el.get("action_id"),
        block_id=block_id,
        value=el.get("value"),
        **ctx,
    )
    button = f'<button class="{style}">{label}</button>'
    return f'<form class="inline" method="post" action="/ui/click">{fields}{button}</form>'


def message_html(
    ws: Workspace, msg: Message, ctx: dict[str, str], n: Names, thread: list[Message]
) -> str:
    """One message with its head (who, clock time, edited) and its thread below it."""
    who = "preprod" if msg.bot_id else ws.user_name(msg.user)
    app = ' <span class="app">APP</span>' if msg.bot_id else ""
    at, full = clock(msg.ts, n.tz)
    edited = ' <span class="ts">(edited)</span>' if msg.edit_count else ""
    body = blocks_html(msg.blocks, msg, ctx, n) or f'<div class="text">{render(msg.text, n)}</div>'
    head = (
        f'<span class="who">{escape(who)}</span>{app}'
        f'<time class="ts" datetime="{full}" title="{full}">{at}</time>{edited}'
    )
    only = '<div class="only">Only visible to you</div>' if msg.ephemeral_to else ""
    css = "msg eph" if msg.ephemeral_to else "msg"
    inner = "".join(message_html(ws, r, ctx, n, []) for r in thread)
    replies = f'<div class="thread">{inner}</div>' if inner else ""
    return f'<div class="{css}" id="m{escape(msg.ts)}">{only}{head}{body}{replies}</div>'


def _by_time(messages: list[Message]) -> list[Message]:
    return sorted(messages, key=lambda m: float(m.ts) if m.ts.replace(".", "").isdigit() else 0)


def timeline(ws: Workspace, user: str, channel_id: str, ctx: dict[str, str], n: Names) -> str:
    """The channel's messages and ``user``'s ephemerals, in time order, threads nested."""
    channel = ws.channels.get(channel_id)
    if channel is None:
        return f'<p class="err">no channel {escape(channel_id)}</p>'
    mine = [m for m in ws.ephemerals.get(user, []) if m.channel == channel_id]
    threads: dict[str, list[Message]] = {}
    top = list(channel.messages)
    for eph in mine:
        if eph.thread_ts and eph.thread_ts in channel.by_ts:
            threads.setdefault(eph.thread_ts, []).append(eph)
        else:
            top.append(eph)
    out = []
    for msg in _by_time(top):
        replies = channel.thread(msg.ts) if msg.ts in channel.by_ts else []
        thread = _by_time([*replies, *threads.get(msg.ts, [])])
        out.append(message_html(ws, msg, ctx, n, thread))
    return "".join(out)


def modal_html(view: View, ctx: dict[str, str], n: Names) -> str:
    """An open modal as a form: its inputs, errors, Submit and Cancel."""
    inputs: list[str] = []
    for block in view.blocks:
        if block.get("type") != "input":
            inputs.append(blocks_html([block], None, ctx, n))
            continue
        el, bid = block.get("element", {}), str(block.get("block_id", ""))
        name = escape(f"v:{bid}.{el.get('action_id', '')}")
        err = view.errors.get(bid)
        field = (
            f"<textarea name='{name}' rows='3' cols='60'></textarea>"
            if el.get("multiline")
            else f"<input type='text' name='{name}' size='60'>"
        )
        inputs.append(
            f"<p>{_text(block.get('label'), n)}<br>{field}"
            + (f"<br><span class='err'>{escape(err)}</span>" if err else "")
            + "</p>"
        )
    fields = _hidden(view_id=view.id, **ctx)
    submit = _text(view.payload.get("submit"), n) or "Submit"
    close = _text(view.payload.get("close"), n) or "Cancel"
    cancel = f'<button formaction="/ui/close" formnovalidate>{close}</button>'
    return (
        f'<div class="modal"><h3>{_text(view.payload.get("title"), n)}</h3>'
        f'<form method="post" action="/ui/submit">{fields}{"".join(inputs)}'
        f'<button class="primary">{submit}</button>{cancel}</form></div>'
    )


def live(ws: Workspace, modals: list[View], user: str, channel_id: str, note: str = "") -> str:
    """The part that changes: the note, the timeline and the open modals."""
    ctx = {"as": user, "in": channel_id}
    n = names_for(ws, user, channel_id)
    note_html = f'<p class="err">{escape(note)}</p>' if note else ""
    shown = "".join(modal_html(v, ctx, n) for v in modals)
    return f"{note_html}{timeline(ws, user, channel_id, ctx, n)}{shown}"


def page(
    ws: Workspace, modals: list[View], home: View | None, user: str, channel_id: str, note: str
) -> str:
    """The whole page as ``user`` looking at ``channel_id``."""
    ctx = {"as": user, "in": channel_id}
    n = names_for(ws, user, channel_id)
    users = "".join(
        f'<option value="{escape(u)}"{" selected" if u == user else ""}>{escape(x.name)}</option>'
        for u, x in ws.users.items()
    )
    chans = "".join(
        f'<li><a href="/?{escape(urlencode({"as": user, "in": c}))}">#{escape(ch.name)}</a></li>'
        for c, ch in ws.channels.items()
        if ch.dm_user is None
    )
    home_html = f"<h4>Home</h4>{blocks_html(home.blocks, None, ctx, n)}" if home else ""
    name = ws.channels[channel_id].name if channel_id in ws.channels else channel_id
    hint = f"Message #{name}, or a command: /preprod start checkout-api 2.14.0 staging"
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>preprod demo</title>
<style>{STYLE}</style></head><body><nav><form method="get" action="/">
<p>Acting as <select name="as" onchange="this.form.submit()">{users}</select></p>
<p class="zone" id="zone">Times in {escape(zone_name(n.tz))}</p>
<input type="hidden" name="in" value="{escape(channel_id)}"></form><ul>{chans}</ul>{home_html}</nav>
<main><div id="live">{live(ws, modals, user, channel_id, note)}</div>
<form id="composer" method="post" action="/ui/command">{_hidden(**ctx)}
<input name="text" autofocus autocomplete="off" placeholder="{escape(hint)}">
<button>Send</button></form></main>{LIVE_JS}</body></html>"""
