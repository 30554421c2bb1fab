"""`python -m services.insights.rebuild`: recounts every day and rollup cell from the stored facts.

Run it after changing INSIGHTS_TIME_ZONE (days already counted stay in the old zone's days until then).
It holds the cell tables locked while it works, so a running consumer waits and then adds to the new counts.
"""

from __future__ import annotations

import asyncio
import sys

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from services.insights.cells import ALERTS, FEEDBACK
from services.insights.config import InsightsSettings
from shared.db.engine import Database
from shared.settings import load_settings


async def rebuild(conn: AsyncConnection, time_zone: str) -> None:
    for facts in (FEEDBACK, ALERTS):
        await conn.execute(text(f"LOCK TABLE {facts.cells.fullname} IN EXCLUSIVE MODE"))
    zone = {"tz": time_zone}
    await conn.execute(text("UPDATE insights.feedback SET day = (occurred_at AT TIME ZONE :tz)::date"), zone)
    await conn.execute(text("UPDATE insights.alerts SET day = (fired_at AT TIME ZONE :tz)::date"), zone)
    for facts in (FEEDBACK, ALERTS):
        await conn.execute(text(f"DELETE FROM {facts.cells.fullname}"))  # noqa: S608 - the code's own table
        await conn.execute(facts.delta("TRUE"), {"sign": 1})


async def main() -> None:
    settings = load_settings(InsightsSettings)
    database = Database(settings.database, "insights")
    try:
        async with database.connection() as conn:
            await rebuild(conn, settings.time_zone)
    finally:
        await database.dispose()
    print(f"insights: every cell recounted in {settings.time_zone}", file=sys.stderr)


if __name__ == "__main__":
    asyncio.run(main())
