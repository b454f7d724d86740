"""Test support: helpers shared by the test modules (fakes, the example target)."""
