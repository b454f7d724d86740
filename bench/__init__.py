"""Benchmarks: scripts that print figures (see each one's docstring)."""
