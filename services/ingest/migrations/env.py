"""Alembic environment for the ingest schema."""

from services.ingest.models import metadata
from shared.db.migrate import run_migrations

run_migrations(metadata)
