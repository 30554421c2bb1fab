"""The watchdog: escalations must not stop silently.

The timer loop and the notifier record a heartbeat after every completed pass (exported as the time of
the last tick); a loop that has not ticked for `loop_stall_s` makes /readyz answer 503, so that an
orchestrator restarts the replica and Prometheus pages. Independently of both loops, a small task counts
what is overdue in the database: open alerts whose next transition is more than `OVERDUE_AFTER` past, and
notifications due that long ago and still unsent. Either count above zero for a while means escalation
or paging has stopped, whatever the cause (a dead loop, a lost leader, a stuck database lock).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import datetime, timedelta

import structlog
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from services.alerting.metrics import LOOP_LAST_TICK, OVERDUE_DELIVERIES, OVERDUE_TRANSITIONS
from shared.observability.http import ReadinessCheck
from shared.service import Runtime

log = structlog.get_logger(__name__)
OVERDUE_AFTER = timedelta(minutes=2)
_OVERDUE = text("""
    SELECT
      (SELECT count(*) FROM alerting.alerts
       WHERE (next_action_at < :before OR resolve_by < :before) AND status <> 'resolved') AS transitions,
      (SELECT count(*) FROM alerting.deliveries
       WHERE status = 'pending' AND next_attempt_at < :before) AS deliveries
""")


class Heartbeats:
    """When each loop last completed a pass (monotonic seconds), for readiness and the exported gauge."""

    def __init__(
        self,
        loops: tuple[str, ...],
        clock: Callable[[], float] = time.monotonic,
        leading_since: Callable[[], float | None] = lambda: 0.0,
    ) -> None:
        self.clock = clock
        self.started = clock()
        self.leading_since = leading_since
        """When this replica became leader (the loops run only then), None while it stands by."""
        self.last: dict[str, float | None] = dict.fromkeys(loops)
        for loop in loops:
            LOOP_LAST_TICK.labels(loop).set(time.time())

    def beat(self, loop: str) -> None:
        self.last[loop] = self.clock()
        LOOP_LAST_TICK.labels(loop).set(time.time())

    def stalled(self, limit_s: float) -> list[str]:
        """Loops without a completed pass for `limit_s` (counting from start for one that never ticked)."""
        now = self.clock()
        return [
            loop for loop, at in self.last.items() if now - (self.started if at is None else at) > limit_s
        ]

    def readiness(self, limit_s: float) -> ReadinessCheck:
        async def check() -> bool | str:
            stalled = self.stalled(limit_s)
            if not stalled:
                return True
            return ", ".join(f"{loop}: no completed pass for over {limit_s:g} s" for loop in stalled)

        return check


async def count_overdue(runtime: Runtime, now: datetime) -> tuple[int, int]:
    """(open alerts with a transition overdue, unsent notifications overdue), both > OVERDUE_AFTER."""
    async with runtime.database.connection() as conn:
        row = (await conn.execute(_OVERDUE, {"before": now - OVERDUE_AFTER})).one()
    return int(row.transitions), int(row.deliveries)


async def run_watchdog(runtime: Runtime, clock: Callable[[], datetime], interval_s: float) -> None:
    """Exports the overdue counts every `interval_s` until cancelled."""
    while True:
        try:
            transitions, deliveries = await count_overdue(runtime, clock())
            OVERDUE_TRANSITIONS.set(transitions)
            OVERDUE_DELIVERIES.set(deliveries)
        except (SQLAlchemyError, OSError) as exc:
            log.warning("alerting_watchdog_failed", error=str(exc))
        await asyncio.sleep(interval_s)
