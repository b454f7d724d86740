"""Slack transport: one rate-limited Web API client and a latest-state-wins update coalescer."""
