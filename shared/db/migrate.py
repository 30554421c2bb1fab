"""Alembic migrations, one history per service in its own schema. `python -m shared.db.migrate [service…]`."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from alembic import command, context
from alembic.config import Config
from sqlalchemy import MetaData, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from shared.settings import DatabaseSettings

SERVICES_DIR = Path(__file__).resolve().parents[2] / "services"
SERVICES = ("ingest", "sentiment", "alerting", "loyalty", "insights")


def alembic_config(service: str, database_url: str | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(SERVICES_DIR / service / "migrations"))
    config.set_main_option("sqlalchemy.url", database_url or DatabaseSettings().database_url)
    return config


def upgrade(service: str, database_url: str | None = None, revision: str = "head") -> None:
    command.upgrade(alembic_config(service, database_url), revision)


def run_migrations(metadata: MetaData) -> None:
    """Body of each service's migrations/env.py: migrate `metadata.schema` online, asynchronously."""
    schema = metadata.schema
    if schema is None:
        raise ValueError("a service's MetaData must name its schema")
    url = context.config.get_main_option("sqlalchemy.url")
    if url is None:
        raise ValueError("sqlalchemy.url is not set")

    def migrate(connection: Connection) -> None:
        connection.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
        context.configure(
            connection=connection,
            target_metadata=metadata,
            version_table_schema=schema,
            include_schemas=False,
        )
        with context.begin_transaction():
            context.run_migrations()

    async def run() -> None:
        engine = create_async_engine(url)
        async with engine.begin() as connection:
            await connection.run_sync(migrate)
        await engine.dispose()

    asyncio.run(run())


def main(argv: list[str]) -> None:
    for service in argv or SERVICES:
        if service not in SERVICES:
            raise SystemExit(f"unknown service {service!r}; expected one of {', '.join(SERVICES)}")
        upgrade(service)
        print(f"migrations: {service} at head", file=sys.stderr)


if __name__ == "__main__":
    main(sys.argv[1:])
