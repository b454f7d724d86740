"""Rollback drill: make the previous version live again (the other blue/green slot)."""

from examples.drills._ops import call, note_live

if __name__ == "__main__":
    state = note_live()
    print(f"live: {state['live']} {state['version']}; rolling back", flush=True)
    call("POST", "/ops/rollback")
