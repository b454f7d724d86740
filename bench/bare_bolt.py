"""The baseline for bench/ack_latency: a Bolt app in Starlette under uvicorn that only
acks ``/preprod``: the same stack as ``preprod serve`` with none of its work.

    python bench/bare_bolt.py PORT [--inline]   (SLACK_BOT_TOKEN, SLACK_SIGNING_SECRET,
                                                 SLACK_API_URL)

``--inline``: Bolt's ``process_before_response``, as ``preprod serve`` runs it (Bolt then
answers when the listener returns rather than at its next 10 ms poll for the ack).
"""

from __future__ import annotations

import os
import sys
from typing import Any

import uvicorn
from slack_bolt.adapter.starlette.async_handler import AsyncSlackRequestHandler
from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk.web.async_client import AsyncWebClient
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route


def create(inline: bool = False) -> Starlette:
    client = AsyncWebClient(
        token=os.environ["SLACK_BOT_TOKEN"], base_url=os.environ["SLACK_API_URL"]
    )
    bolt = AsyncApp(
        client=client,
        signing_secret=os.environ["SLACK_SIGNING_SECRET"],
        process_before_response=inline,
    )

    @bolt.command("/preprod")
    async def preprod(ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack(text="ok", response_type="ephemeral")

    handler = AsyncSlackRequestHandler(bolt)

    async def events(request: Request) -> Response:
        return await handler.handle(request)

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    return Starlette(
        routes=[Route("/slack/events", events, methods=["POST"]), Route("/healthz", healthz)]
    )


if __name__ == "__main__":
    uvicorn.run(create("--inline" in sys.argv[2:]), host="127.0.0.1", port=int(sys.argv[1]),
                log_level="warning", access_log=False)  # fmt: skip
