"""Leader election over a PostgreSQL advisory lock, for work that must run on one replica at a time.

Alerting's consumer keeps rule windows that span partitions, and its timers and notifier act on shared
rows: two replicas doing that at once would split the windows. So every replica serves HTTP, and only
the holder of a session-level advisory lock named after the consumer group consumes and runs the loops.
The lock lives as long as the holder's database session: a crash or a SIGKILL closes the connection and
PostgreSQL frees it at once, so a standby polling every `poll_s` takes over within seconds. A leader
that cannot reach the database for `check_s` stops its work before anyone else can take over, so two
replicas never both lead on a reachable database.

Chosen over Kafka group assignment of a one-partition control topic because the work's state is in
PostgreSQL already, the lock needs no extra topic, and a lost database session (the case where the
leader can no longer commit anything) is exactly what ends leadership.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import time
from collections.abc import Awaitable, Callable

import asyncpg
import structlog
from prometheus_client import Gauge

log = structlog.get_logger(__name__)
LEADER = Gauge("service_leader", "1 while this replica holds its group's leadership, else 0.", ["service"])


def lock_key(name: str) -> int:
    """A signed 64-bit advisory lock key for `name`."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


class Leadership:
    """Runs `start` when this replica becomes leader and `stop` when it stops being one."""

    def __init__(
        self, database_url: str, name: str, service: str, poll_s: float = 2.0, check_s: float = 5.0
    ) -> None:
        self.dsn = database_url.replace("postgresql+asyncpg://", "postgresql://", 1)
        self.name, self.key, self.service = name, lock_key(name), service
        self.poll_s, self.check_s = poll_s, check_s
        self.leader = False
        self.since: float | None = None
        """When this replica last became leader (monotonic seconds)."""
        LEADER.labels(service).set(0)

    async def run(self, start: Callable[[], Awaitable[None]], stop: Callable[[], Awaitable[None]]) -> None:
        """Until cancelled: wait for the lock, lead, and give the work up if the session is lost."""
        while True:
            connection: asyncpg.Connection | None = None
            try:
                connection = await asyncpg.connect(self.dsn, timeout=self.check_s)
                # Polled: PostgreSQL does not tell a waiter when a session lock is freed without blocking
                # a connection in pg_advisory_lock, which would hide a lost database from this loop.
                while not await connection.fetchval("SELECT pg_try_advisory_lock($1)", self.key):  # noqa: ASYNC110
                    await asyncio.sleep(self.poll_s)
                await self._lead(connection, start, stop)
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError) as exc:
                log.warning("leadership_lost_or_unavailable", name=self.name, error=str(exc))
                await asyncio.sleep(self.poll_s)
            finally:
                if connection is not None:
                    with contextlib.suppress(Exception):
                        await asyncio.wait_for(connection.close(), self.check_s)
                    if not connection.is_closed():
                        connection.terminate()

    async def _lead(
        self,
        connection: asyncpg.Connection,
        start: Callable[[], Awaitable[None]],
        stop: Callable[[], Awaitable[None]],
    ) -> None:
        self.leader, self.since = True, time.monotonic()
        LEADER.labels(self.service).set(1)
        log.info("leadership_acquired", name=self.name)
        try:
            await start()
            while True:  # the session is the lease: lose it and the work stops
                await asyncio.sleep(self.check_s / 2)
                await asyncio.wait_for(connection.fetchval("SELECT 1"), self.check_s)
        finally:
            self.leader = False
            LEADER.labels(self.service).set(0)
            await asyncio.shield(stop())
            log.info("leadership_released", name=self.name)
