"""Blue/green drill: deploy the release to the idle slot, wait until it is ready, switch."""

import os

from examples.drills._ops import call, note_live, wait_for

if __name__ == "__main__":
    version = os.environ["PREPROD_VERSION"]
    note_live()
    slot = call("POST", "/ops/deploy", {"version": version})["slot"]
    wait_for(f"slot {slot} ready", lambda: call("GET", "/ops/state")["slots"][slot]["ready"])
    call("POST", "/ops/switch")
