"""What alerting's routes take and answer: the OpenAPI document clients read."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from services.alerting.lifecycle.silences import Matcher, not_matching_everything
from services.alerting.rules import Policy, Rule
from shared.contracts.bounds import Timestamp
from shared.params import Instant

Level = Literal["L1", "L2", "L3", "L4"]
Status = Literal["open", "acknowledged", "resolved"]


class Action(BaseModel):
    model_config = ConfigDict(extra="forbid")

    actor: str = Field(
        min_length=1, max_length=200, description="who acts (recorded in the timeline and audit)"
    )
    note: str | None = Field(default=None, max_length=2000)


class SilenceCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    matchers: Annotated[list[Matcher], AfterValidator(not_matching_everything)] = Field(
        min_length=1, max_length=50
    )
    starts_at: Timestamp | None = None
    ends_at: Timestamp
    created_by: str = Field(min_length=1, max_length=200)
    comment: str = Field(min_length=1, max_length=2000)


class AlertOut(BaseModel):
    id: uuid.UUID
    rule_id: str
    group_key: dict[str, Any]
    status: Status
    level: Level
    count: int
    value: float | None
    summary: str
    silenced: bool
    customer_id: str | None
    created_at: Instant
    updated_at: Instant
    acked_at: Instant | None
    acked_by: str | None
    resolved_at: Instant | None
    next_action: str | None
    next_action_at: Instant | None
    next_escalation_at: Instant | None = Field(description="When the alert escalates unless acknowledged")
    resolve_by: Instant | None = Field(description="Its resolution target: missed, it moves up a level")
    sla_missed_at: Instant | None = Field(description="When it missed a resolution target, if it did")
    evidence: list[dict[str, Any]]


class AlertPage(BaseModel):
    alerts: list[AlertOut]
    next_cursor: str | None = Field(description="Pass back as `cursor` for the next page; None at the end")
    now: str = Field(description="The service clock (as X-Server-Now)")


class TimelineEntryOut(BaseModel):
    kind: str
    at: Instant
    level: str | None
    actor: str | None
    note: str | None
    detail: dict[str, Any] | None


class DeliveryOut(BaseModel):
    channel: str
    target: str
    transition: str
    status: str
    attempts: int
    last_error: str | None
    sent_at: Instant | None


class AlertDetail(AlertOut):
    now: Instant
    member_tier: str | None = Field(description="The customer's tier as alerting last heard it from loyalty")
    timeline: list[TimelineEntryOut]
    deliveries: list[DeliveryOut]


class SilenceOut(BaseModel):
    id: uuid.UUID
    matchers: list[dict[str, Any]]
    starts_at: Instant
    ends_at: Instant
    created_by: str
    comment: str


class SilenceCreated(BaseModel):
    id: uuid.UUID


class SilenceDeleted(BaseModel):
    id: uuid.UUID
    status: Literal["deleted"]


class RulesOut(BaseModel):
    rules: list[Rule]
    policies: dict[str, Policy]


class OnCallOut(BaseModel):
    schedule: str
    time_zone: str
    now: str = Field(description="who is on call at `at` (an override, else the rotation's turn)")
    until: Instant = Field(description="when that changes")
    next: str = Field(description="who takes over then")


class MuteWindowOut(BaseModel):
    name: str
    entries: list[str] = Field(description="Each entry's weekdays and clock ranges, in its time zone")
    muted_until: Instant | None = Field(description="At `at` the window holds: when it ends; else null")
    used_by: list[str] = Field(description="Policy steps and targets it mutes, e.g. 'default L2 → managers'")


class OnCallNow(BaseModel):
    at: Instant
    schedules: list[OnCallOut]
    mute_windows: list[MuteWindowOut] = Field(default_factory=list)


class Validation(BaseModel):
    valid: bool
    errors: list[str] | None = Field(default=None, description="Problems by line and field (invalid files)")
    rules: int | None = Field(default=None, description="How many rules (valid files)")
    policies: list[str] | None = Field(default=None, description="Policy names (valid files)")


CallbackState = Literal["due", "overdue", "done"]


class CallbackOut(BaseModel):
    """A callback (回访) to the customer of a resolved case."""

    id: uuid.UUID
    alert_id: uuid.UUID = Field(description="The resolved case it follows")
    rule_id: str
    customer_id: str
    tier: str | None = Field(description="The member tier when the case was resolved")
    resolved_at: Instant
    due_at: Instant
    state: CallbackState
    overdue_alert_id: uuid.UUID | None = Field(description="The alert opened when it fell overdue")
    review_alert_id: uuid.UUID | None = Field(description="The review case a low NPS answer opened")
    done_at: Instant | None
    done_by: str | None
    nps: int | None
    note: str | None


class CallbackPage(BaseModel):
    callbacks: list[CallbackOut]
    next_cursor: str | None = Field(description="Pass back as `cursor` for the next page; None at the end")


class CallbackResult(BaseModel):
    """What the customer said on the callback."""

    model_config = ConfigDict(extra="forbid")

    actor: str = Field(min_length=1, max_length=200, description="who called (recorded in the timeline)")
    nps: int = Field(ge=0, le=10, description="The customer's answer, 0–10")
    note: str | None = Field(default=None, max_length=2000)
