"""The async engine and session factory a service holds for its lifetime."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from shared.settings import DatabaseSettings


class Database:
    def __init__(self, settings: DatabaseSettings, application_name: str) -> None:
        self.engine: AsyncEngine = create_async_engine(
            settings.database_url,
            pool_size=settings.database_pool_size,
            pool_pre_ping=True,
            connect_args={"server_settings": {"application_name": application_name}, "timeout": 5},
        )
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """A session whose work commits on success and rolls back on any error."""
        async with self.sessions() as session, session.begin():
            yield session

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[AsyncConnection]:
        """A Core connection in a transaction (lighter than an ORM session for hot paths)."""
        async with self.engine.begin() as connection:
            yield connection

    @asynccontextmanager
    async def driver(self, transaction: bool = True) -> AsyncIterator[asyncpg.Connection]:
        """The pool's asyncpg connection itself, in a transaction unless `transaction` is False (then each
        statement commits on its own: one round trip where BEGIN and COMMIT would add two). For hot
        paths whose statements move whole arrays, where SQLAlchemy's per-row result handling showed
        up in profiles."""
        async with self.engine.connect() as connection:
            raw = await connection.get_raw_connection()
            driver: asyncpg.Connection = raw.driver_connection
            if not transaction:
                try:
                    yield driver
                finally:  # a transaction the caller opened and did not finish must not reach the pool
                    if not driver.is_closed() and driver.is_in_transaction():
                        try:
                            await driver.execute("ROLLBACK")
                        except Exception:
                            driver.terminate()
                return
            async with driver.transaction():
                yield driver

    async def reachable(self, timeout: float = 2.0) -> bool:
        try:
            async with asyncio.timeout(timeout), self.engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
        except (SQLAlchemyError, OSError, TimeoutError):
            return False
        return True

    async def dispose(self) -> None:
        await self.engine.dispose()
