"""Insights routes: KPI series (GET /v1/kpis) and the records behind a cell (GET /v1/kpis/records).

Every route needs `X-API-Key` (the operator's, or a read-only client's from INSIGHTS_API_KEYS): the
drill-down returns customers' words and identifiers.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request

from services.insights.cells import ALERTS, FEEDBACK
from services.insights.kpis import (
    METRICS,
    Interval,
    Metric,
    MetricName,
    Point,
    build_series,
    period_start,
    previous_start,
)
from services.insights.queries import BadCursor, CellQuery, cell_counts, cell_records
from services.insights.schemas import (
    AlertOut,
    AspectOut,
    KpiPoint,
    KpiRecord,
    KpiResponse,
    KpiSeries,
    PreviousPoint,
    RecordsPage,
)
from shared.params import NO_NUL_SCHEMA, StorableText
from shared.security import app_client
from shared.service import RuntimeDep

MAX_DAYS = 731
DEFAULT_DAYS = {"day": 30, "week": 12 * 7}
router = APIRouter(prefix="/v1", tags=["insights"], dependencies=[Depends(app_client())])
Value = Annotated[
    str | None,
    Query(max_length=200, description="only this value ('' for none)", json_schema_extra=NO_NUL_SCHEMA),
    StorableText,
]


def _invalid(field: str, message: str) -> HTTPException:
    """As FastAPI names a query parameter it refuses."""
    return HTTPException(422, detail=[{"field": f"query.{field}", "message": message}])


@dataclass(frozen=True)
class Cell:
    metric: Metric
    query: CellQuery


def cell_params(
    request: Request,
    metric: MetricName,
    interval: Interval = "day",
    from_: Annotated[
        date | None, Query(alias="from", description="first day (default: 30 days or 12 weeks back)")
    ] = None,
    to: Annotated[
        date | None, Query(description="last day, inclusive (default: today in the business's time zone)")
    ] = None,
    group_by: Annotated[
        str | None,
        Query(max_length=200, description="dimensions, comma-separated", json_schema_extra=NO_NUL_SCHEMA),
        StorableText,
    ] = None,
    business_line: Value = None,
    channel: Value = None,
    region: Value = None,
    store_id: Value = None,
    tier: Value = None,
    aspect: Value = None,
    level: Value = None,
) -> Cell:
    """The metric, its facts and the cell range, checked: 422 naming the parameter at fault."""
    chosen = METRICS[metric]
    facts = FEEDBACK if chosen.source == "feedback" else ALERTS
    given = {"business_line": business_line, "channel": channel, "region": region, "store_id": store_id}
    given |= {"tier": tier, "aspect": aspect, "level": level}
    filters = {name: value for name, value in given.items() if value is not None}
    for name in filters:
        if name not in facts.dimensions:
            raise _invalid(
                name, f"{metric} cannot be filtered by {name}; it has {', '.join(facts.dimensions)}"
            )
    groups = tuple(g.strip() for g in group_by.split(",")) if group_by else ()
    for name in groups:
        if name not in facts.dimensions:
            raise _invalid(
                "group_by", f"{name!r} is not a dimension of {metric}: {', '.join(facts.dimensions)}"
            )
    if len(set(groups)) != len(groups):
        raise _invalid("group_by", "names a dimension twice")
    last = to or request.app.state.today()
    first = from_ or last - timedelta(days=DEFAULT_DAYS[interval] - 1)
    if first > last:
        raise _invalid("from", "must not be after `to`")
    if (last - first).days >= MAX_DAYS:
        raise _invalid("from", f"a range spans at most {MAX_DAYS} days")
    first, last = (
        period_start(first, interval),
        period_start(last, interval) + timedelta(days=6 if interval == "week" else 0),
    )
    return Cell(chosen, CellQuery(facts, interval, first, last, groups, filters))


CellDep = Annotated[Cell, Depends(cell_params)]


@router.get("/kpis", response_model_exclude_none=True)
async def kpis(
    cell: CellDep,
    metric: MetricName,
    runtime: RuntimeDep,
    compare: Annotated[
        Literal["previous"] | None, Query(description="add each point's previous period")
    ] = None,
) -> KpiResponse:
    """A KPI per day or week, per group: NPS, CSAT (mean 1–5), csat_satisfied (% of 4–5), CES (mean 1–7),
    negative_share (%), volume, recurrence (% of negative feedback repeating an aspect the customer was
    negative on within 30 days), response_time and resolution_time (minutes, with % within target),
    closure_rate (% of alerts resolved within the closure target); of the callbacks (回访) of resolved
    cases, counted on the day their case fired: callbacks (scheduled), callback_on_time (% of those done
    that were done by their due time), callback_nps (NPS of the answers). Periods with nothing behind
    them have no point. Answers come from rollups for up to two dimensions (grouped plus filtered)."""
    query = cell.query
    first = query.first
    if compare:
        query = CellQuery(
            query.facts,
            query.interval,
            previous_start(first, query.interval),
            query.last,
            query.group_by,
            query.filters,
        )
    async with runtime.database.connection() as conn:
        rows = await cell_counts(conn, query)
    series = build_series(cell.metric, rows, query.interval, first, compare is not None)
    return KpiResponse(
        metric=metric,
        interval=query.interval,
        series=[
            KpiSeries(
                group={g: v or None for g, v in zip(query.group_by, values, strict=True)},
                points=[_point(p) for p in points],
            )
            for values, points in series.items()
        ],
    )


def _point(point: Point) -> KpiPoint:
    previous = point.previous
    return KpiPoint(
        start=point.start,
        value=point.value,
        n=point.n,
        compliance=point.compliance,
        previous=PreviousPoint(start=previous.start, value=previous.value, n=previous.n)
        if previous
        else None,
        change=point.change,
    )


@router.get("/kpis/records")
async def records(
    request: Request,
    cell: CellDep,
    metric: MetricName,
    runtime: RuntimeDep,
    cursor: Annotated[
        str | None,
        Query(
            max_length=500, description="`next_cursor` of the previous page", json_schema_extra=NO_NUL_SCHEMA
        ),
        StorableText,
    ] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> RecordsPage:
    """The records behind a cell, newest first: pass a point's group values as filters and its period as
    `from` (and `to`), with the same metric and interval. Feedback for score and share metrics (only
    those that answered the score), alerts with the feedback that fired them for SLA metrics."""
    async with runtime.database.connection() as conn:
        try:
            rows, next_cursor = await cell_records(conn, cell.query, cell.metric, cursor, limit)
        except BadCursor as exc:
            raise _invalid("cursor", str(exc)) from exc
    template: str = request.app.state.alert_url
    shaped = [_record(row, cell.metric.source, template) for row in rows]
    return RecordsPage(metric=metric, records=shaped, next_cursor=next_cursor)


def _record(row: Mapping[str, Any], source: str, template: str) -> KpiRecord:
    alert_id = row.get("alert_id")
    alert = AlertOut.model_validate(dict(row)) if source == "alerts" else None
    feedback_id = (row.get("feedback_ids") or [None])[0] if source == "alerts" else row["feedback_id"]
    aspects = [
        AspectOut(name=n, label=lbl)
        for n, lbl in zip(row.get("aspects", []), row.get("aspect_labels", []), strict=False)
    ]
    return KpiRecord(
        feedback_id=feedback_id,
        occurred_at=row.get("occurred_at"),
        customer_id=row.get("customer_id"),
        business_line=row.get("business_line") or None,
        channel=row.get("channel") or None,
        region=row.get("region") or None,
        store_id=row.get("store_id") or None,
        tier=row.get("tier") or None,
        text=row.get("text"),
        stars=row.get("stars"),
        label=row.get("label"),
        rated_stars=row.get("rated_stars"),
        csat=row.get("csat"),
        nps=row.get("nps"),
        ces=row.get("ces"),
        aspects=aspects,
        recurrent_aspects=list(row.get("recurrent_aspects", [])),
        alert_id=alert_id,
        alert_url=template.format(alert_id=alert_id) if alert_id else None,
        alert=alert,
    )
