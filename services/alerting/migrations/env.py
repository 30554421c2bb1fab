"""Alembic environment for the alerting schema."""

from services.alerting.models import metadata
from shared.db.migrate import run_migrations

run_migrations(metadata)
