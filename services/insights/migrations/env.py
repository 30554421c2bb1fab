"""Alembic environment for the insights schema."""

from services.insights.models import metadata
from shared.db.migrate import run_migrations

run_migrations(metadata)
