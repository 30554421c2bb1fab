"""The KPIs, exactly defined over a cell's counts, and the calendar they are counted in.

Shares (CSAT satisfied, negative share, closure rate, recurrence, SLA compliance, callbacks done on time)
are percentages, 0–100. NPS = 100 × (promoters 9–10 − detractors 0–6) / responses, and the same over the
answers given when customers were called back (callback_nps). Times are in minutes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

MetricName = Literal[
    "nps",
    "csat",
    "csat_satisfied",
    "ces",
    "negative_share",
    "volume",
    "recurrence",
    "response_time",
    "resolution_time",
    "closure_rate",
    "callbacks",
    "callback_on_time",
    "callback_nps",
]
Interval = Literal["day", "week"]
Counts = Mapping[str, int]


@dataclass(frozen=True)
class Metric:
    source: Literal["feedback", "alerts"]
    n: str
    """The count behind a value: responses for scores, feedback for shares, alerts for SLAs."""
    value: Callable[[Counts], float]
    compliance: str | None = None
    """For SLA metrics, the count of alerts within target (reported as a share of `n`)."""
    records: str = "TRUE"
    """Which facts of a cell are behind the value (SQL over the fact table `f`): the drill-down's filter."""


def _share(part: str, whole: str) -> Callable[[Counts], float]:
    return lambda c: 100.0 * c[part] / c[whole]


METRICS: dict[str, Metric] = {
    "nps": Metric(
        "feedback",
        "nps_n",
        lambda c: 100.0 * (c["promoters"] - c["detractors"]) / c["nps_n"],
        records="f.nps IS NOT NULL",
    ),
    "csat": Metric("feedback", "csat_n", lambda c: c["csat_sum"] / c["csat_n"], records="f.csat IS NOT NULL"),
    "csat_satisfied": Metric("feedback", "csat_n", _share("csat_ok", "csat_n"), records="f.csat IS NOT NULL"),
    "ces": Metric("feedback", "ces_n", lambda c: c["ces_sum"] / c["ces_n"], records="f.ces IS NOT NULL"),
    "negative_share": Metric("feedback", "volume", _share("negative", "volume")),
    "volume": Metric("feedback", "volume", lambda c: float(c["volume"])),
    "recurrence": Metric(
        "feedback", "negative", _share("recurrent", "negative"), records="f.label = 'negative'"
    ),
    "response_time": Metric(
        "alerts",
        "acked",
        lambda c: c["ack_seconds"] / c["acked"] / 60.0,
        compliance="ack_ok",
        records="f.acknowledged_at IS NOT NULL",
    ),
    "resolution_time": Metric(
        "alerts",
        "resolved",
        lambda c: c["resolve_seconds"] / c["resolved"] / 60.0,
        compliance="resolve_ok",
        records="f.resolved_at IS NOT NULL",
    ),
    "closure_rate": Metric("alerts", "fired", _share("closed_ok", "fired")),
    # Callbacks (回访) count on the day their case fired, like its response and resolution.
    "callbacks": Metric(
        "alerts", "callbacks", lambda c: float(c["callbacks"]), records="f.callback_due_at IS NOT NULL"
    ),
    "callback_on_time": Metric(
        "alerts",
        "callbacks_done",
        _share("callbacks_on_time", "callbacks_done"),
        records="f.callback_done_at IS NOT NULL",
    ),
    "callback_nps": Metric(
        "alerts",
        "callbacks_done",
        lambda c: 100.0 * (c["callback_promoters"] - c["callback_detractors"]) / c["callbacks_done"],
        records="f.callback_done_at IS NOT NULL",
    ),
}


def evaluate(metric: Metric, counts: Counts) -> tuple[float, int, float | None] | None:
    """(value, n, compliance %) of a cell, or None when nothing is behind it."""
    n = counts[metric.n]
    if n <= 0:
        return None
    compliance = round(100.0 * counts[metric.compliance] / n, 4) if metric.compliance else None
    return round(metric.value(counts), 4), n, compliance


def local_day(at: datetime, zone: ZoneInfo) -> date:
    return at.astimezone(zone).date()


def period_start(day: date, interval: Interval) -> date:
    """The day itself, or the Monday of its week."""
    return day - timedelta(days=day.weekday()) if interval == "week" else day


def previous_start(start: date, interval: Interval) -> date:
    return start - timedelta(days=7 if interval == "week" else 1)


def add_working_days(at: datetime, days: int, zone: ZoneInfo) -> datetime:
    """`at` plus `days` working days (Monday to Friday) in `zone`, at the same local time; a start on a
    weekend counts from the following Monday's start."""
    local = at.astimezone(zone)
    if local.weekday() >= 5:
        local = datetime.combine(
            local.date() + timedelta(days=7 - local.weekday()), datetime.min.time(), zone
        )
    left = days
    while left > 0:
        local = local + timedelta(days=1)
        if local.weekday() < 5:
            left -= 1
    return local.replace(tzinfo=zone)


@dataclass(frozen=True)
class Point:
    start: date
    value: float
    n: int
    compliance: float | None = None
    previous: Point | None = None
    change: float | None = None
    """value − previous value, in the metric's own unit (NPS points, minutes, percentage points)."""


def build_series(
    metric: Metric,
    rows: Iterable[tuple[date, tuple[str, ...], Counts]],
    interval: Interval,
    first: date,
    compare: bool,
) -> dict[tuple[str, ...], list[Point]]:
    """Points per group, oldest first, for periods from `first` on (an earlier row only serves as the
    previous period of the first); a period with nothing behind its value has no point."""
    cells: dict[tuple[str, ...], dict[date, Point]] = {}
    for start, group, counts in rows:
        found = evaluate(metric, counts)
        if found is not None:
            cells.setdefault(group, {})[start] = Point(start, found[0], found[1], found[2])
    series: dict[tuple[str, ...], list[Point]] = {}
    for group, points in sorted(cells.items()):
        shown = [points[start] for start in sorted(points) if start >= first]
        if compare:
            shown = [_compared(p, points.get(previous_start(p.start, interval))) for p in shown]
        if shown:
            series[group] = shown
    return series


def _compared(point: Point, previous: Point | None) -> Point:
    if previous is None:
        return point
    return replace(point, previous=previous, change=round(point.value - previous.value, 4))
