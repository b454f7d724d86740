"""Cleanup of the deploy and rollback drills: the versions the drill found, live and in the
idle slot (``$PREPROD_DRILL_DIR/live_before.json``, noted by the drill), in place again,
so that the next run finds the environment as this one did."""

import json
import os
import sys

from examples.drills._ops import FOUND, OTHER, call, wait_for


def idle_holds(version: str) -> None:
    """The idle slot runs ``version`` and is ready."""
    state = call("GET", "/ops/state")
    idle = OTHER[state["live"]]
    if state["slots"][idle]["version"] != version:
        call("POST", "/ops/deploy", {"version": version})
    wait_for(f"slot {idle} ready", lambda: call("GET", "/ops/state")["slots"][idle]["ready"])


if __name__ == "__main__":
    try:
        with open(os.path.join(os.environ["PREPROD_DRILL_DIR"], FOUND)) as file:
            before = json.load(file)
    except FileNotFoundError:
        sys.exit(0)  # the drill stopped before changing anything
    if call("GET", "/ops/state")["version"] != before["live"]:
        idle_holds(before["live"])
        call("POST", "/ops/switch")
    idle_holds(before["idle"])
    state = call("GET", "/ops/state")
    found = (state["version"], state["slots"][OTHER[state["live"]]]["version"])
    if found != (before["live"], before["idle"]):
        sys.exit(f"live {found[0]}, idle {found[1]}; before the drill: {before}")
    print(f"{before['live']} is live again, {before['idle']} idle, as before the drill", flush=True)
