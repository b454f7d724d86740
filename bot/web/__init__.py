"""The ASGI application: Slack's endpoint, the run pages, health and Prometheus metrics."""
