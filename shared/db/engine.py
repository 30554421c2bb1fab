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
        self._dsn = settings.database_url.replace("postgresql+asyncpg://", "postgresql://", 1)
        self._pool_size, self._application_name = settings.database_pool_size, application_name
        self._drivers: asyncpg.Pool | None = None
        self._drivers_lock = asyncio.Lock()

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
        """An asyncpg connection of a pool of its own, in a transaction unless `transaction` is False
        (then each statement commits on its own: one round trip where BEGIN and COMMIT would add two).
        For hot paths whose statements move whole arrays: SQLAlchemy's pool pings each connection it
        hands out (BEGIN, a query and ROLLBACK: three round trips) and its per-row result handling
        showed up in profiles. A connection broken meanwhile fails the statement (an asyncpg error,
        which callers answer as unavailable) and is replaced at its next use."""
        pool = self._drivers if self._drivers is not None else await self._driver_pool()
        async with pool.acquire() as driver:
            if transaction:
                async with driver.transaction():
                    yield driver
            else:
                yield driver  # a transaction left open is rolled back when the pool takes it back

    async def _driver_pool(self) -> asyncpg.Pool:
        async with self._drivers_lock:
            if self._drivers is None:
                self._drivers = await asyncpg.create_pool(
                    self._dsn,
                    min_size=0,  # connects on first use: creating the pool cannot fail
                    max_size=self._pool_size,
                    timeout=5,
                    server_settings={"application_name": self._application_name},
                    reset=_keep_session,
                )
            return self._drivers

    async def reachable(self, timeout: float = 2.0) -> bool:
        try:
            async with asyncio.timeout(timeout), self.engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
        except (SQLAlchemyError, OSError, TimeoutError):
            return False
        return True

    async def dispose(self) -> None:
        if self._drivers is not None:
            await self._drivers.close()
        await self.engine.dispose()


async def _keep_session(connection: asyncpg.Connection) -> None:
    """A pooled connection's reset: nothing beyond the rollback of a transaction left open, which the
    pool does itself. Hot paths set no session state (only SET LOCAL), so asyncpg's default reset
    query would be a round trip per use for nothing."""
