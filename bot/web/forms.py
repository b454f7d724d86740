"""Forms posted by signed-in people: read bounded, and only with the session's CSRF token.

Starlette's own form parser needs python-multipart; a dashboard form is a handful of short
url-encoded fields, so it is read here with a size bound, as the Slack endpoint reads its
bodies."""

from __future__ import annotations

import secrets
from urllib.parse import parse_qsl

from starlette.requests import Request

MAX_FORM = 16 * 1024
"""Bytes a form may carry: reasons and notes are bounded far below this."""


class BadForm(ValueError):
    """The form is too large, not url-encoded text, or lacks the session's token."""


async def read_form(request: Request, csrf: str) -> dict[str, str]:
    """The form's fields (the last of a repeated name), once its CSRF token matched."""
    if not request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        raise BadForm("expected a url-encoded form")
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM:
            raise BadForm(f"the form is larger than {MAX_FORM // 1024} KiB")
    try:
        fields = dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True, max_num_fields=20))
    except (UnicodeDecodeError, ValueError):
        raise BadForm("the form is not readable text") from None
    if not secrets.compare_digest(fields.get("csrf", "").encode(), csrf.encode()):
        raise BadForm("this form is from another session; reload the page and try again")
    return fields
