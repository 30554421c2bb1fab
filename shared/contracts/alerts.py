"""Payload of alerts.v1: one event per transition in an alert's life."""

from __future__ import annotations

from typing import Literal
from uuid import UUID

from pydantic import Field, StrictInt

from shared.contracts.bounds import MAX_INT, FreeText, IdText, LabelText, Timestamp
from shared.contracts.envelope import Contract

Level = Literal["L1", "L2", "L3", "L4"]
AlertStatus = Literal["open", "acknowledged", "resolved"]
ALERT_TRANSITIONS = ("fired", "escalated", "acknowledged", "reminded", "reopened", "sla_missed", "resolved")
"""`reopened`: an acknowledgement timed out; `sla_missed`: not resolved within the target of the level it
fired at (the alert moves up a level where the policy has one)."""


class AlertChanged(Contract):
    """Envelope type `alert.<transition>`; the alert's state after the transition."""

    alert_id: UUID
    rule_id: str = Field(min_length=1, max_length=100)
    group_key: dict[LabelText, IdText] = Field(default_factory=dict, max_length=50)
    level: Level
    status: AlertStatus
    count: StrictInt = Field(ge=1, le=MAX_INT)
    summary: FreeText
    customer_id: IdText | None = None
    feedback_ids: list[UUID] = Field(default_factory=list, max_length=100)
    actor: IdText | None = None
    at: Timestamp


CALLBACK_TRANSITIONS = ("scheduled", "done")


class CallbackChanged(Contract):
    """Envelope type `callback.<transition>` (keyed by the case's alert id, so it follows the case's own
    events): a callback (回访) to the customer of a resolved case was scheduled, or done with their answer."""

    callback_id: UUID
    alert_id: UUID
    """The resolved case it follows."""
    rule_id: str = Field(min_length=1, max_length=100)
    customer_id: IdText
    tier: LabelText | None = None
    due_at: Timestamp
    done_at: Timestamp | None = None
    nps: StrictInt | None = Field(default=None, ge=0, le=10)
    """The customer's answer when called back (0–10)."""
    at: Timestamp
