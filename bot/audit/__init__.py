"""The audit trail: append-only events chained by hashes (pure; the store keeps them)."""
