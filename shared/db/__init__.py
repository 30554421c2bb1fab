"""Async SQLAlchemy engine, sessions, idempotency records and per-service Alembic migrations."""

from shared.db.engine import Database
from shared.db.idempotency import claim_events

__all__ = ["Database", "claim_events"]
