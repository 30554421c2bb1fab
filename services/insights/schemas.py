"""Response bodies of the insights API (GET /v1/kpis and its drill-down)."""

from __future__ import annotations

from datetime import date, datetime
from uuid import UUID

from pydantic import BaseModel, Field

from services.insights.kpis import Interval, MetricName


class PreviousPoint(BaseModel):
    start: date
    value: float
    n: int


class KpiPoint(BaseModel):
    start: date = Field(description="the day, or the Monday of the week, in the business's time zone")
    value: float
    n: int = Field(description="responses behind `value` (alerts for SLA metrics)")
    compliance: float | None = Field(
        default=None,
        description="response_time and resolution_time: % of those `n` within the level's target",
    )
    previous: PreviousPoint | None = Field(
        default=None, description="with compare=previous: the period before"
    )
    change: float | None = Field(default=None, description="with compare=previous: value − previous value")


class KpiSeries(BaseModel):
    group: dict[str, str | None] = Field(
        description="the group's value of each group_by dimension (null: none)"
    )
    points: list[KpiPoint]


class KpiResponse(BaseModel):
    metric: MetricName
    interval: Interval
    series: list[KpiSeries]


class AspectOut(BaseModel):
    name: str
    label: str


class AlertOut(BaseModel):
    alert_id: UUID
    rule_id: str
    level: str
    fired_at: datetime
    acknowledged_at: datetime | None
    resolved_at: datetime | None
    response_due_at: datetime
    resolution_due_at: datetime
    summary: str
    callback_due_at: datetime | None = Field(default=None, description="its callback (回访), when scheduled")
    callback_done_at: datetime | None = None
    callback_nps: int | None = Field(default=None, description="the customer's answer when called back")


class KpiRecord(BaseModel):
    """A feedback behind a cell (masked text, scores, label), with its alert if it raised one; for SLA
    metrics, an alert with the feedback that fired it."""

    feedback_id: UUID | None
    occurred_at: datetime | None
    customer_id: str | None
    business_line: str | None
    channel: str | None
    region: str | None
    store_id: str | None
    tier: str | None
    text: str | None
    stars: int | None
    label: str | None
    rated_stars: int | None
    csat: int | None
    nps: int | None
    ces: int | None
    aspects: list[AspectOut] = Field(default_factory=list)
    recurrent_aspects: list[str] = Field(default_factory=list)
    alert_id: UUID | None
    alert_url: str | None
    alert: AlertOut | None = None


class RecordsPage(BaseModel):
    metric: MetricName
    records: list[KpiRecord]
    next_cursor: str | None = Field(description="pass back as `cursor` for the next page; null on the last")
