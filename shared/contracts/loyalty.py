"""Payloads of loyalty.changes.v1: points movements and tier changes, published via the outbox."""

from __future__ import annotations

from datetime import date
from typing import Literal
from uuid import UUID

from pydantic import AwareDatetime, Field

from shared.contracts.envelope import Contract

Tier = Literal["bronze", "silver", "gold", "diamond"]
POINTS_CHANGES = ("points_earned", "points_redeemed", "points_expired", "points_clawed_back")


class PointsChanged(Contract):
    """Envelope type one of POINTS_CHANGES; `points` is signed (spending and expiry are negative)."""

    customer_id: str
    points: int
    balance: int = Field(ge=0)
    reason: str
    source_event_id: UUID | None = None
    reference: str | None = None
    expires_on: date | None = None
    at: AwareDatetime


class ExpiryReminder(Contract):
    """Envelope type `expiry_reminder`: a reminder 30, 15 or 3 days ahead."""

    customer_id: str
    points: int = Field(gt=0)
    expires_on: date
    days_left: int = Field(ge=0)
    at: AwareDatetime


class TierChanged(Contract):
    """Envelope types `tier_changed` and `tier_downgrade_warning`."""

    customer_id: str
    from_tier: Tier
    to_tier: Tier
    qualifying_spend: str
    effective_at: AwareDatetime
