"""Failover drill: stop the serving replica, wait for the standby to serve, repair."""

from examples.drills._ops import call, wait_for

if __name__ == "__main__":
    crashed = call("POST", "/ops/crash")["crashed"]
    wait_for("failover", lambda: call("GET", "/ops/state")["serving"] != crashed)
    call("POST", "/ops/repair")
