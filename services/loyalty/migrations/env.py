"""Alembic environment for the loyalty schema."""

from services.loyalty.models import metadata
from shared.db.migrate import run_migrations

run_migrations(metadata)
