"""Rollback drill: make the previous version live again (the other blue/green slot)."""

from examples.drills._ops import call

if __name__ == "__main__":
    state = call("GET", "/ops/state")
    print(f"live: {state['live']} {state['version']}; rolling back", flush=True)
    call("POST", "/ops/rollback")
