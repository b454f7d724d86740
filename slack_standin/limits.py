"""Slack's Block Kit and message limits, checked the way Slack checks them.

Pure (no I/O, no clock) so the rules can be unit-tested on their own. Problems are
reported in Slack's own shape: an error name (``invalid_blocks``, ``msg_too_long``,
``no_text``...) plus ``response_metadata.messages`` lines such as
``[ERROR] must be less than 3001 characters [json-pointer:/blocks/0/text/text]``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

MAX_MESSAGE_BLOCKS = 50
MAX_VIEW_BLOCKS = 100
MAX_SECTION_TEXT = 3000
MAX_SECTION_FIELDS = 10
MAX_FIELD_TEXT = 2000
MAX_HEADER_TEXT = 150
MAX_BUTTON_TEXT = 75
MAX_BUTTON_VALUE = 2000
MAX_URL = 3000
MAX_ID = 255
MAX_ACTIONS_ELEMENTS = 25
MAX_CONTEXT_ELEMENTS = 10
MAX_MESSAGE_TEXT = 40_000
MAX_VIEW_TITLE = 24
MAX_PRIVATE_METADATA = 3000
MAX_OPTIONS = 100

BLOCK_TYPES = frozenset(
    {"section", "actions", "context", "divider", "header", "image", "input", "rich_text"}
    | {"markdown", "file", "video"}
)


@dataclass(frozen=True)
class SlackError:
    """An ``ok: false`` answer: Slack's error name and its explanation lines."""

    error: str
    messages: tuple[str, ...] = ()

    def body(self) -> dict[str, Any]:
        """The JSON body Slack would answer with."""
        out: dict[str, Any] = {"ok": False, "error": self.error}
        if self.messages:
            out["response_metadata"] = {"messages": list(self.messages)}
        return out


class ApiError(Exception):
    """Raised by a Web API method to answer ``ok: false``."""

    def __init__(self, error: str, *messages: str) -> None:
        super().__init__(error)
        self.slack = SlackError(error, messages)

    @classmethod
    def of(cls, err: SlackError) -> ApiError:
        return cls(err.error, *err.messages)


def required(args: dict[str, Any], key: str, error: str = "invalid_arguments") -> str:
    """An argument Slack insists on; its absence is answered with ``error``."""
    value = args.get(key)
    if value in (None, ""):
        raise ApiError(error, f"[ERROR] missing required field: {key}")
    return str(value)


def parse_json_arg(value: Any) -> Any:
    """Form-encoded calls carry ``blocks``/``view`` as JSON strings; JSON calls as objects."""
    if isinstance(value, str | bytes):
        return json.loads(value)
    return value


def _too_long(limit: int, pointer: str) -> str:
    return f"[ERROR] must be less than {limit + 1} characters [json-pointer:{pointer}]"


def _too_many(limit: int, pointer: str) -> str:
    return f"[ERROR] no more than {limit} items allowed [json-pointer:{pointer}]"


def _missing(field: str, pointer: str) -> str:
    return f"[ERROR] missing required field: {field} [json-pointer:{pointer}]"


def _check_str(value: Any, limit: int, pointer: str, out: list[str]) -> None:
    if not isinstance(value, str):
        out.append(f"[ERROR] must be a string [json-pointer:{pointer}]")
    elif len(value) > limit:
        out.append(_too_long(limit, pointer))


def _check_text(obj: Any, limit: int, pointer: str, out: list[str], plain: bool = False) -> None:
    """A text object: ``{"type": "plain_text"|"mrkdwn", "text": ...}``, 1..limit chars."""
    if not isinstance(obj, dict):
        out.append(f"[ERROR] must be an object [json-pointer:{pointer}]")
        return
    kinds = {"plain_text"} if plain else {"plain_text", "mrkdwn"}
    if obj.get("type") not in kinds:
        out.append(f"[ERROR] must be one of {sorted(kinds)} [json-pointer:{pointer}/type]")
    text = obj.get("text")
    if text is None:
        out.append(_missing("text", pointer))
    elif isinstance(text, str) and not text:
        out.append(f"[ERROR] must be more than 0 characters [json-pointer:{pointer}/text]")
    else:
        _check_str(text, limit, f"{pointer}/text", out)


def _check_list(value: Any, limit: int, pointer: str, out: list[str]) -> list[Any]:
    if not isinstance(value, list):
        out.append(f"[ERROR] must be an array [json-pointer:{pointer}]")
        return []
    if len(value) > limit:
        out.append(_too_many(limit, pointer))
    return value


def _check_element(el: Any, pointer: str, out: list[str]) -> None:
    """An interactive element: buttons in full, the other kinds for ids and options."""
    if not isinstance(el, dict):
        out.append(f"[ERROR] must be an object [json-pointer:{pointer}]")
        return
    if "action_id" in el:
        _check_str(el["action_id"], MAX_ID, f"{pointer}/action_id", out)
    kind = el.get("type")
    if kind == "button":
        _check_text(el.get("text"), MAX_BUTTON_TEXT, f"{pointer}/text", out, plain=True)
        if "value" in el:
            _check_str(el["value"], MAX_BUTTON_VALUE, f"{pointer}/value", out)
        if "url" in el:
            _check_str(el["url"], MAX_URL, f"{pointer}/url", out)
        if el.get("style") not in (None, "primary", "danger"):
            out.append(f"[ERROR] must be one of primary, danger [json-pointer:{pointer}/style]")
    elif kind == "image":
        _check_str(el.get("image_url", ""), MAX_URL, f"{pointer}/image_url", out)
    elif kind in ("plain_text", "mrkdwn"):
        _check_text(el, MAX_SECTION_TEXT, pointer, out)
    elif "options" in el:
        _check_list(el["options"], MAX_OPTIONS, f"{pointer}/options", out)


def _check_elements(value: Any, limit: int, pointer: str, out: list[str]) -> None:
    elements = _check_list(value, limit, pointer, out)
    if not elements and isinstance(value, list):
        out.append(f"[ERROR] must provide at least 1 item [json-pointer:{pointer}]")
    seen: set[str] = set()
    for i, el in enumerate(elements):
        _check_element(el, f"{pointer}/{i}", out)
        action_id = el.get("action_id") if isinstance(el, dict) else None
        if isinstance(action_id, str):
            if action_id in seen:
                out.append(f"[ERROR] duplicate action_id [json-pointer:{pointer}/{i}/action_id]")
            seen.add(action_id)


def _check_block(block: Any, pointer: str, out: list[str]) -> None:
    if not isinstance(block, dict):
        out.append(f"[ERROR] must be an object [json-pointer:{pointer}]")
        return
    kind = block.get("type")
    if kind not in BLOCK_TYPES:
        out.append(f"[ERROR] unsupported type: {kind} [json-pointer:{pointer}/type]")
        return
    if "block_id" in block:
        _check_str(block["block_id"], MAX_ID, f"{pointer}/block_id", out)
    if kind == "section":
        if "text" not in block and "fields" not in block:
            out.append(_missing("text", pointer))
        if "text" in block:
            _check_text(block["text"], MAX_SECTION_TEXT, f"{pointer}/text", out)
        if "fields" in block:
            fields = _check_list(block["fields"], MAX_SECTION_FIELDS, f"{pointer}/fields", out)
            for i, field in enumerate(fields):
                _check_text(field, MAX_FIELD_TEXT, f"{pointer}/fields/{i}", out)
        if "accessory" in block:
            _check_element(block["accessory"], f"{pointer}/accessory", out)
    elif kind == "header":
        _check_text(block.get("text"), MAX_HEADER_TEXT, f"{pointer}/text", out, plain=True)
    elif kind == "actions":
        _check_elements(block.get("elements"), MAX_ACTIONS_ELEMENTS, f"{pointer}/elements", out)
    elif kind == "context":
        _check_elements(block.get("elements"), MAX_CONTEXT_ELEMENTS, f"{pointer}/elements", out)
    elif kind == "input":
        _check_text(block.get("label"), MAX_FIELD_TEXT, f"{pointer}/label", out, plain=True)
        _check_element(block.get("element"), f"{pointer}/element", out)
    elif kind == "image":
        _check_str(block.get("image_url", ""), MAX_URL, f"{pointer}/image_url", out)


def check_blocks(blocks: Any, max_blocks: int, pointer: str = "/blocks") -> list[str]:
    """Every problem in a ``blocks`` array, as Slack's ``[ERROR] ...`` lines."""
    out: list[str] = []
    items = _check_list(blocks, max_blocks, pointer, out)
    seen: set[str] = set()
    for i, block in enumerate(items):
        _check_block(block, f"{pointer}/{i}", out)
        block_id = block.get("block_id") if isinstance(block, dict) else None
        if isinstance(block_id, str):
            if block_id in seen:
                out.append(f"[ERROR] duplicate block_id [json-pointer:{pointer}/{i}/block_id]")
            seen.add(block_id)
    return out


def validate_message(text: Any, blocks: Any, attachments: Any = None) -> SlackError | None:
    """What ``chat.postMessage``/``chat.update``/``chat.postEphemeral`` would refuse."""
    if blocks is not None and not isinstance(blocks, list):
        return SlackError("invalid_blocks_format", ("[ERROR] blocks must be an array",))
    if not text and not blocks and not attachments:
        return SlackError("no_text")
    if text is not None and len(str(text)) > MAX_MESSAGE_TEXT:
        return SlackError("msg_too_long")
    if blocks:
        problems = check_blocks(blocks, MAX_MESSAGE_BLOCKS)
        if problems:
            return SlackError("invalid_blocks", tuple(problems))
    return None


def validate_view(view: Any, surface: str) -> SlackError | None:
    """What ``views.open``/``views.update`` (surface ``modal``) or ``views.publish``
    (``home``) would refuse; Slack names these ``invalid_arguments``."""
    if not isinstance(view, dict):
        return SlackError("invalid_arguments", ("[ERROR] must be an object [json-pointer:/view]",))
    out: list[str] = []
    if view.get("type") != surface:
        out.append(f"[ERROR] must be {surface} [json-pointer:/view/type]")
    if surface == "modal":
        _check_text(view.get("title"), MAX_VIEW_TITLE, "/view/title", out, plain=True)
        for key in ("submit", "close"):
            if key in view:
                _check_text(view[key], MAX_VIEW_TITLE, f"/view/{key}", out, plain=True)
    for key in ("callback_id", "external_id"):
        if key in view:
            _check_str(view[key], MAX_ID, f"/view/{key}", out)
    if "private_metadata" in view:
        _check_str(view["private_metadata"], MAX_PRIVATE_METADATA, "/view/private_metadata", out)
    if "blocks" not in view:
        out.append(_missing("blocks", "/view"))
    else:
        out.extend(check_blocks(view["blocks"], MAX_VIEW_BLOCKS, "/view/blocks"))
    return SlackError("invalid_arguments", tuple(out)) if out else None
