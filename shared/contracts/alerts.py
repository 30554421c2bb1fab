"""Payload of alerts.v1: one event per transition in an alert's life."""

from __future__ import annotations

from typing import Literal
from uuid import UUID

from pydantic import AwareDatetime, Field

from shared.contracts.envelope import Contract

Level = Literal["L1", "L2", "L3", "L4"]
AlertStatus = Literal["open", "acknowledged", "resolved"]
ALERT_TRANSITIONS = ("fired", "escalated", "acknowledged", "reminded", "resolved")


class AlertChanged(Contract):
    """Envelope type `alert.<transition>`; the alert's state after the transition."""

    alert_id: UUID
    rule_id: str = Field(min_length=1)
    group_key: dict[str, str] = Field(default_factory=dict)
    level: Level
    status: AlertStatus
    count: int = Field(ge=1)
    summary: str
    customer_id: str | None = None
    feedback_ids: list[UUID] = Field(default_factory=list)
    actor: str | None = None
    at: AwareDatetime
