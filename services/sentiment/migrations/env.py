"""Alembic environment for the sentiment schema."""

from services.sentiment.models import metadata
from shared.db.migrate import run_migrations

run_migrations(metadata)
