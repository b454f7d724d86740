"""Slack's Block Kit limits, enforced as a last line of defence before a message is sent.

Renderers plan for the limits themselves (they summarise long lists); :func:`fit` makes
sure nothing they miss can get a message rejected: it truncates with an ellipsis and a
pointer to the report instead of letting Slack answer ``invalid_blocks``.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from bot.slack.text import ELLIPSIS, Mrkdwn, link, truncate

Block = dict[str, Any]

MAX_BLOCKS = 50
MAX_SECTION_TEXT = 3000
MAX_FIELDS = 10
MAX_FIELD_TEXT = 2000
MAX_HEADER_TEXT = 150
MAX_CONTEXT_ELEMENTS = 10
MAX_CONTEXT_TEXT = 3000
MAX_ACTIONS = 25
MAX_BUTTON_TEXT = 75
MAX_BUTTON_VALUE = 2000
MAX_URL = 3000
MAX_ID = 255
MAX_MESSAGE_TEXT = 40_000


class Message(NamedTuple):
    """What ``chat.postMessage`` / ``chat.update`` / ``respond`` need: the notification
    and fallback ``text`` plus the ``blocks``. Unpacks as ``text, blocks``."""

    text: Mrkdwn
    blocks: list[Block]


def see_report(report_url: str | None) -> Mrkdwn:
    """The note appended to anything truncated."""
    return Mrkdwn(
        f" see the {link(report_url, 'full report')}" if report_url else " see the report"
    )


def fit_text(text: Mrkdwn, report_url: str | None = None) -> Mrkdwn:
    """A message's top-level ``text`` within Slack's 40,000 characters."""
    return truncate(text, MAX_MESSAGE_TEXT, see_report(report_url))


def fit(blocks: list[Block], report_url: str | None = None) -> list[Block]:
    """``blocks`` within every limit: long texts truncated, extra fields, elements and
    blocks dropped with a note. Trailing actions blocks (sign-off buttons) are kept."""
    note = see_report(report_url)
    fitted = [_fit_block(block, note) for block in blocks]
    if len(fitted) <= MAX_BLOCKS:
        return fitted
    kept = [i for i, block in enumerate(fitted) if block.get("type") == "actions"][-2:]
    actions = [fitted[i] for i in kept]
    others = [block for i, block in enumerate(fitted) if i not in kept]
    room = MAX_BLOCKS - len(actions) - 1
    dropped = len(others) - room
    notice = {
        "type": "context",
        "elements": [
            {"type": "mrkdwn", "text": f"{ELLIPSIS} {dropped} more blocks left out;{note}"}
        ],
    }
    return [*others[:room], notice, *actions]


def fit_message(message: Message, report_url: str | None = None) -> Message:
    return Message(fit_text(message.text, report_url), fit(message.blocks, report_url))


def _fit_block(block: Block, note: Mrkdwn) -> Block:
    out = dict(block)
    if "block_id" in out:
        out["block_id"] = str(out["block_id"])[:MAX_ID]
    kind = out.get("type")
    if kind == "section":
        if "text" in out:
            out["text"] = _fit_text_object(out["text"], MAX_SECTION_TEXT, note)
        if "fields" in out:
            fields = out["fields"][:MAX_FIELDS]
            out["fields"] = [_fit_text_object(f, MAX_FIELD_TEXT, note) for f in fields]
        if isinstance(out.get("accessory"), dict):
            out["accessory"] = _fit_element(out["accessory"], note)
    elif kind == "header":
        out["text"] = _fit_text_object(out["text"], MAX_HEADER_TEXT, Mrkdwn())
    elif kind == "context":
        elements = out.get("elements", [])[:MAX_CONTEXT_ELEMENTS]
        out["elements"] = [_fit_element(e, note, MAX_CONTEXT_TEXT) for e in elements]
    elif kind == "actions":
        out["elements"] = [_fit_element(e, note) for e in out.get("elements", [])[:MAX_ACTIONS]]
    return out


def _fit_text_object(obj: Block, limit: int, note: Mrkdwn) -> Block:
    out = dict(obj)
    plain = out.get("type") == "plain_text"
    # the block's text is already rendered: markup the renderers built, or plain text
    text = Mrkdwn(str(out.get("text", "")).strip() or "-")  # Slack refuses an empty text
    out["text"] = truncate(text, limit, Mrkdwn() if plain else note)
    return out


def _fit_element(element: Block, note: Mrkdwn, text_limit: int = MAX_BUTTON_TEXT) -> Block:
    if element.get("type") in ("mrkdwn", "plain_text"):
        return _fit_text_object(element, text_limit, note)
    out = dict(element)
    if isinstance(out.get("text"), dict):
        out["text"] = _fit_text_object(out["text"], MAX_BUTTON_TEXT, Mrkdwn())
    if "value" in out:
        out["value"] = str(out["value"])[:MAX_BUTTON_VALUE]
    if "action_id" in out:
        out["action_id"] = str(out["action_id"])[:MAX_ID]
    if "url" in out and len(str(out["url"])) > MAX_URL:
        del out["url"]  # a cut URL leads nowhere; the button still works as an action
    return out
