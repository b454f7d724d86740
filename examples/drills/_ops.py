"""What the example drills share: calling the target's operations endpoints.

Standard library only, so a drill runs under any ``python3``. The target comes from the
environment preprod gives every drill: ``PREPROD_BASE_URL`` and, for a private CA,
``PREPROD_CA_BUNDLE``.
"""

from __future__ import annotations

import json
import os
import ssl
import sys
import time
import urllib.request
from typing import Any

BASE_URL = os.environ["PREPROD_BASE_URL"].rstrip("/")
CA_BUNDLE = os.environ.get("PREPROD_CA_BUNDLE") or None
OTHER = {"blue": "green", "green": "blue"}
FOUND = "live_before.json"
"""What a drill found (the live and the idle slot's versions), in ``$PREPROD_DRILL_DIR``:
``put_back`` puts them back."""


def call(method: str, path: str, body: Any = None) -> Any:
    """One JSON request to the target; exits 1 naming the answer when it is not 2xx."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(f"{BASE_URL}{path}", data=data, method=method)
    request.add_header("Content-Type", "application/json")
    context = ssl.create_default_context(cafile=CA_BUNDLE) if BASE_URL.startswith("https") else None
    try:
        with urllib.request.urlopen(request, timeout=10, context=context) as response:
            answer = json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        sys.exit(f"{method} {path} answered {exc.code}: {exc.read()[:200]!r}")
    print(f"{method} {path} -> {json.dumps(answer)}", flush=True)
    return answer


def wait_for(what: str, ready: Any, timeout: float = 10.0) -> None:
    """Poll ``ready()`` until it is true; exits 1 after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not ready():
        if time.monotonic() > deadline:
            sys.exit(f"gave up waiting for {what} after {timeout:g} s")
        time.sleep(0.1)
    print(f"{what}: done", flush=True)


def note_live() -> dict[str, Any]:
    """The target's state before the drill changes it, kept for the cleanup."""
    state: dict[str, Any] = call("GET", "/ops/state")
    idle = state["slots"][OTHER[state["live"]]]["version"]
    with open(os.path.join(os.environ["PREPROD_DRILL_DIR"], FOUND), "w") as file:
        json.dump({"live": state["version"], "idle": idle}, file)
    return state
