"""A tiny browser view of the stand-in for ``make demo``: one channel with its threads,
the buttons, a command box, open modals, and a switcher to act as any user.

Server-rendered HTML with plain forms: every click goes through the same signed
requests the tests use (``send_command``, ``click``, ``submit_view``).
"""

from __future__ import annotations

from html import escape
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from slack_standin.workspace import Json, Message, View

if TYPE_CHECKING:
    from slack_standin.server import SlackStandIn

STYLE = """
body{font:14px system-ui,sans-serif;margin:0;display:flex;min-height:100vh}
nav{width:220px;background:#3f0e40;color:#eee;padding:12px} nav a{color:#eee}
main{flex:1;padding:12px 20px;max-width:900px} .msg{border-bottom:1px solid #eee;padding:8px 0}
.who{font-weight:600} .ts{color:#888;font-size:12px} .text{white-space:pre-wrap}
.thread{margin-left:28px;border-left:3px solid #ddd;padding-left:10px}
.eph{background:#fff8e1} .ctx{color:#666;font-size:12px} form.inline{display:inline}
button{margin:2px} .primary{background:#2eb67d;color:#fff} .danger{background:#e01e5a;color:#fff}
.modal{border:2px solid #1264a3;padding:10px;margin:10px 0} .err{color:#e01e5a}
"""
RELOAD = """<script>setTimeout(function r(){var a=document.activeElement;
if(a&&(a.tagName=='INPUT'||a.tagName=='TEXTAREA')){setTimeout(r,2000)}else{location.reload()}},2000)
</script>"""


def _text(obj: Any) -> str:
    return escape(str(obj.get("text", ""))) if isinstance(obj, dict) else ""


def _hidden(**fields: str | None) -> str:
    return "".join(
        f'<input type="hidden" name="{k}" value="{escape(v)}">' for k, v in fields.items() if v
    )


def _blocks(blocks: list[Json], msg: Message | None, ctx: dict[str, str]) -> str:
    out: list[str] = []
    for block in blocks:
        kind = block.get("type")
        if kind in ("section", "header", "markdown"):
            text = _text(block.get("text")) if kind != "markdown" else escape(block.get("text", ""))
            tag = "h3" if kind == "header" else "div"
            out.append(f'<{tag} class="text">{text}</{tag}>')
            out += [f'<div class="text">{_text(f)}</div>' for f in block.get("fields", [])]
        elif kind == "context":
            out.append(f'<div class="ctx">{" ".join(_text(e) for e in block["elements"])}</div>')
        elif kind == "divider":
            out.append("<hr>")
        if msg is not None:
            elements = block.get("elements", []) if kind == "actions" else []
            elements += [block["accessory"]] if isinstance(block.get("accessory"), dict) else []
            for el in elements:
                if el.get("type") == "button":
                    out.append(_button(msg, block.get("block_id"), el, ctx))
    return "".join(out)


def _button(msg: Message, block_id: str | None, el: Json, ctx: dict[str, str]) -> str:
    fields = _hidden(
        ts=msg.ts,
        channel=msg.channel,
        action_id=el.get("action_id"),
        block_id=block_id,
        value=el.get("value"),
        **ctx,
    )
    style = escape(str(el.get("style", "")))
    label = _text(el.get("text"))
    button = f'<button class="{style}">{label}</button>'
    return f'<form class="inline" method="post" action="/ui/click">{fields}{button}</form>'


def _message(standin: SlackStandIn, msg: Message, ctx: dict[str, str], css: str = "msg") -> str:
    who = standin.workspace.user_name(msg.user) if msg.bot_id is None else "preprod (app)"
    edited = f" (edited {msg.edit_count}x)" if msg.edit_count else ""
    body = _blocks(msg.blocks, msg, ctx) or f'<div class="text">{escape(msg.text)}</div>'
    head = f'<span class="who">{escape(who)}</span> <span class="ts">{msg.ts}{edited}</span>'
    replies = ""
    if msg.replies and not msg.is_reply:
        channel = standin.channel(msg.channel)
        inner = "".join(_message(standin, r, ctx) for r in channel.thread(msg.ts))
        replies = f'<div class="thread">{inner}</div>'
    return f'<div class="{css}">{head}{body}{replies}</div>'


def _modal(view: View, ctx: dict[str, str]) -> str:
    inputs: list[str] = []
    for block in view.blocks:
        if block.get("type") == "input":
            el, bid = block.get("element", {}), str(block.get("block_id", ""))
            name = escape(f"{bid}.{el.get('action_id', '')}")
            err = view.errors.get(bid)
            inputs.append(
                f"<p>{_text(block.get('label'))}<br><textarea name='v:{name}'></textarea>"
                + (f"<br><span class='err'>{escape(err)}</span>" if err else "")
                + "</p>"
            )
        else:
            inputs.append(_blocks([block], None, ctx))
    fields = _hidden(view_id=view.id, **ctx)
    submit = _text(view.payload.get("submit")) or "Submit"
    title = _text(view.payload.get("title"))
    return (
        f'<div class="modal"><h3>{title}</h3><form method="post" action="/ui/submit">'
        f"{fields}{''.join(inputs)}<button>{submit}</button></form></div>"
    )


def page(standin: SlackStandIn, user: str, channel_id: str, note: str = "") -> str:
    """The whole page as ``user`` looking at ``channel_id``."""
    ws = standin.workspace
    ctx = {"as": user, "in": channel_id}
    users = "".join(
        f'<option value="{u}"{" selected" if u == user else ""}>{escape(x.name)}</option>'
        for u, x in ws.users.items()
    )
    chans = "".join(
        f'<li><a href="/?{urlencode({"as": user, "in": c})}">#{escape(ch.name)}</a></li>'
        for c, ch in ws.channels.items()
    )
    channel = ws.channels.get(channel_id)
    messages = "".join(_message(standin, m, ctx) for m in channel.messages) if channel else ""
    mine = [m for m in ws.ephemerals.get(user, []) if m.channel == channel_id]
    ephemerals = "".join(_message(standin, m, ctx, "msg eph") for m in mine[-5:])
    modals = "".join(_modal(v, ctx) for v in standin.modals(user))
    home = standin.home(user)
    home_html = f"<h4>Home</h4>{_blocks(home.blocks, None, ctx)}" if home else ""
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>preprod demo</title>
<style>{STYLE}</style></head><body><nav><form method="get" action="/">
<p>Acting as <select name="as" onchange="this.form.submit()">{users}</select></p>
<input type="hidden" name="in" value="{escape(channel_id)}"></form><ul>{chans}</ul>{home_html}</nav>
<main><p class="err">{escape(note)}</p>{messages}{ephemerals}{modals}
<form method="post" action="/ui/command">{_hidden(**ctx)}
<input name="text" size="60" placeholder="start checkout-api 2.14.0 staging">
<input name="command" value="/preprod" size="8"><button>Send</button></form></main>
{RELOAD}</body></html>"""


def routes(standin: SlackStandIn) -> list[Route]:
    """``GET /`` and the three form posts, bound to one stand-in."""

    async def index(request: Request) -> Response:
        user = request.query_params.get("as") or next(iter(standin.workspace.users), "")
        channel = request.query_params.get("in") or next(iter(standin.workspace.channels), "")
        return HTMLResponse(page(standin, user, channel, request.query_params.get("note", "")))

    async def act(request: Request) -> Response:
        form = dict(parse_qsl((await request.body()).decode(), keep_blank_values=True))
        user, channel, note = form.get("as", ""), form.get("in", ""), ""
        try:
            if request.url.path.endswith("/command"):
                resp = await standin.send_command(
                    form["text"], user, channel, form.get("command") or "/preprod"
                )
            elif request.url.path.endswith("/click"):
                resp = await standin.click(
                    user,
                    form["ts"],
                    form["channel"],
                    form["action_id"],
                    form.get("value"),
                    form.get("block_id"),
                )
            else:
                values: dict[str, dict[str, Any]] = {}
                for key, value in form.items():
                    if key.startswith("v:"):
                        block_id, _, action_id = key[2:].partition(".")
                        values.setdefault(block_id, {})[action_id] = value
                resp = await standin.submit_view(user, form["view_id"], values)
            note = "" if resp.status_code == 200 else f"the bot answered {resp.status_code}"
        except Exception as exc:  # shown on the page: a demo should explain, not crash
            note = f"{type(exc).__name__}: {exc}"
        query = urlencode({"as": user, "in": channel, "note": note})
        return RedirectResponse(f"/?{query}", status_code=303)

    return [
        Route("/", index, methods=["GET"]),
        Route("/ui/command", act, methods=["POST"]),
        Route("/ui/click", act, methods=["POST"]),
        Route("/ui/submit", act, methods=["POST"]),
    ]
