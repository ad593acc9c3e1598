"""Alembic migrations of the flowpbx schema; run through `flowpbx.store.db.upgrade`."""
