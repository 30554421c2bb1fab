"""Reading KPI series and the records behind a cell.

A series over at most ROLLUP_DEPTH dimensions (grouped by or filtered on) is summed from the rollup
cells: at most one row per day and group, however many records are behind them. Deeper combinations are
counted from the facts with the same definitions (services.insights.cells), correct but slower.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from uuid import UUID

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from services.insights.cells import ROLLUP_DEPTH, Facts
from services.insights.kpis import Interval, Metric

ORDER = {"feedback": ("occurred_at", "feedback_id"), "alerts": ("fired_at", "alert_id")}


@dataclass(frozen=True)
class CellQuery:
    """Days `first`..`last` (inclusive, already aligned to the interval) of one metric's facts."""

    facts: Facts
    interval: Interval
    first: date
    last: date
    group_by: tuple[str, ...] = ()
    filters: Mapping[str, str] = field(default_factory=dict)


Row = tuple[date, tuple[str, ...], dict[str, int]]


async def cell_counts(conn: AsyncConnection, query: CellQuery) -> list[Row]:
    """(period start, group values in group_by order, summed counts) for every period and group with facts."""
    facts = query.facts
    dims = facts.canonical(set(query.group_by) | set(query.filters))
    params: dict[str, Any] = {"lo": query.first, "hi": query.last}
    if len(dims) <= ROLLUP_DEPTH:
        column = {d: f"c.v{i + 1}" for i, d in enumerate(dims)}
        source, day = f"{facts.cells.fullname} AS c", "c.day"
        sums = ", ".join(f"sum(c.{name})::bigint" for name in facts.counts)
        where = ["c.dims = :dims"]
        params["dims"] = ",".join(dims)
    else:
        per_aspect = "aspect" in dims
        column = {d: facts.value_sql(d) for d in dims}
        source, day = f"{facts.table.fullname} AS f {facts.aspect_join(per_aspect)}", "f.day"
        sums = ", ".join(f"sum({sql})::bigint" for sql in facts.measures(per_aspect).values())
        where = []
    bucket = f"date_trunc('week', {day})::date" if query.interval == "week" else day
    where.append(f"{day} BETWEEN :lo AND :hi")
    for i, (name, value) in enumerate(sorted(query.filters.items())):
        where.append(f"{column[name]} = :f{i}")
        params[f"f{i}"] = value
    groups = [column[g] for g in query.group_by]
    statement = f"""
        SELECT {", ".join([bucket, *groups, sums])} FROM {source}
        WHERE {" AND ".join(where)} GROUP BY {", ".join(str(i + 1) for i in range(len(groups) + 1))}
    """  # noqa: S608 - columns and tables come from the code; values are bound
    found = await conn.execute(text(statement), params)
    width = len(groups)
    return [
        (row[0], tuple(row[1 : 1 + width]), dict(zip(facts.counts, row[1 + width :], strict=True)))
        for row in found
    ]


class BadCursor(ValueError):
    pass


def encode_cursor(at: datetime, key: UUID) -> str:
    return base64.urlsafe_b64encode(json.dumps([at.isoformat(), str(key)]).encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, UUID]:
    try:
        at, key = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        return datetime.fromisoformat(at), UUID(key)
    except (ValueError, TypeError, binascii.Error) as exc:
        raise BadCursor("not a cursor this API returned") from exc


async def cell_records(
    conn: AsyncConnection, query: CellQuery, metric: Metric, cursor: str | None, limit: int
) -> tuple[list[Mapping[str, Any]], str | None]:
    """The facts behind a cell, newest first, `limit` at a time; the cursor of the next page or None."""
    facts = query.facts
    at, key = ORDER[metric.source]
    where = ["f.day BETWEEN :lo AND :hi", metric.records]
    params: dict[str, Any] = {"lo": query.first, "hi": query.last, "limit": limit + 1}
    for i, (name, value) in enumerate(sorted(query.filters.items())):
        where.append(f":f{i} = ANY(f.aspects)" if name == "aspect" else f"f.{name} = :f{i}")
        params[f"f{i}"] = value
    if cursor is not None:
        params["at"], params["key"] = decode_cursor(cursor)
        where.append(f"(f.{at}, f.{key}) < (CAST(:at AS timestamptz), CAST(:key AS uuid))")
    joined = ""
    if metric.source == "alerts":
        joined = "LEFT JOIN insights.feedback AS fb ON fb.feedback_id = f.feedback_ids[1]"
        selected = "f.*, fb.text, fb.stars, fb.label, fb.csat, fb.nps, fb.ces, fb.rated_stars, fb.occurred_at"
    else:
        selected = "f.*"
    statement = f"""
        SELECT {selected} FROM {facts.table.fullname} AS f {joined}
        WHERE {" AND ".join(where)} ORDER BY f.{at} DESC, f.{key} DESC LIMIT :limit
    """  # noqa: S608 - as above
    rows = [dict(r) for r in (await conn.execute(text(statement), params)).mappings()]
    if len(rows) <= limit:
        return list(rows), None
    last = rows[limit - 1]
    return list(rows[:limit]), encode_cursor(last[at], last[key])
