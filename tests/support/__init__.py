"""Test support: helpers shared by the test modules (real preprod processes, the example
target, the Slack workspace, PostgreSQL, a hostile server)."""
