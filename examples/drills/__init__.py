"""Example drills for the `drill` check: run as `python3 -m examples.drills.<name>`."""
