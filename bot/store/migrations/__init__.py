"""Alembic migrations of preprod's database, applied when the store opens."""
