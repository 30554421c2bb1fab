"""Payloads of loyalty.changes.v1: points movements and tier changes, published via the outbox."""

from __future__ import annotations

from typing import Literal
from uuid import UUID

from pydantic import Field, StrictInt

from shared.contracts.bounds import MAX_BIGINT, Day, IdText, Points, Timestamp
from shared.contracts.envelope import Contract

Tier = Literal["bronze", "silver", "gold", "diamond"]
POINTS_CHANGES = ("points_earned", "points_redeemed", "points_expired", "points_clawed_back")
MAX_DAYS_AHEAD = 3660
"""Lots expire at most 120 months after they are earned."""


class PointsChanged(Contract):
    """Envelope type one of POINTS_CHANGES; `points` is signed (spending and expiry are negative)."""

    customer_id: IdText
    points: Points
    balance: StrictInt = Field(ge=0, le=MAX_BIGINT)
    reason: str = Field(max_length=500)
    source_event_id: UUID | None = None
    reference: IdText | None = None
    expires_on: Day | None = None
    at: Timestamp


class ExpiryReminder(Contract):
    """Envelope type `expiry_reminder`: a reminder 30, 15 or 3 days ahead."""

    customer_id: IdText
    points: StrictInt = Field(gt=0, le=MAX_BIGINT)
    """All of the member's points expiring that day: possibly several lots'."""
    expires_on: Day
    days_left: StrictInt = Field(ge=0, le=MAX_DAYS_AHEAD)
    at: Timestamp


class TierChanged(Contract):
    """Envelope types `tier_changed` and `tier_downgrade_warning`."""

    customer_id: IdText
    from_tier: Tier
    to_tier: Tier
    qualifying_spend: str = Field(max_length=50)
    effective_at: Timestamp
