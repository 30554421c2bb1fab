"""What loyalty's routes take and answer: the OpenAPI document clients read."""

from typing import Annotated, Literal

from fastapi import Path
from pydantic import BaseModel, Field, StrictInt

from shared.contracts.bounds import ID_LENGTH, WholeNumber
from shared.contracts.loyalty import Tier
from shared.params import NO_NUL_SCHEMA, Instant, StorableText

CustomerId = Annotated[
    str, Path(min_length=1, max_length=ID_LENGTH, json_schema_extra=NO_NUL_SCHEMA), StorableText
]
Reference = Annotated[str, Path(min_length=1, max_length=200, json_schema_extra=NO_NUL_SCHEMA), StorableText]


class RedemptionIn(BaseModel):
    points: Annotated[StrictInt, Field(gt=0, le=100_000_000), WholeNumber]
    reference: str = Field(min_length=1, max_length=200, description="Idempotency key of this redemption")


class Progress(BaseModel):
    next_tier: Tier | None = Field(description="None at the highest tier")
    spend_needed: str | None = Field(description="Qualifying spend still needed for it (decimal string)")


class MemberOut(BaseModel):
    customer_id: str
    balance: int
    tier: Tier
    tier_since: Instant | None
    downgrade_warning_at: Instant | None
    qualifying_spend: str = Field(description="Spend of the last 12 months net of refunds (decimal string)")
    progress: Progress
    expiring_in_30_days: int
    points_value: str = Field(description="What the balance is worth at the redemption rate")
    benefits: list[str]


class LedgerEntryOut(BaseModel):
    entry_id: int
    kind: str
    points: int
    balance_after: int
    source: str
    reason: str
    at: Instant


class LedgerPage(BaseModel):
    entries: list[LedgerEntryOut]
    next_cursor: int | None = Field(description="Pass back as `cursor` for the next page; None at the end")


class RedemptionOut(BaseModel):
    reference: str
    points: int
    balance: int
    status: Literal["redeemed", "duplicate"]


class ReversalOut(BaseModel):
    reference: str
    balance: int
    status: Literal["reversed", "already_reversed"]
    restored: int | None = Field(default=None, description="Points restored (absent when already reversed)")


class ScheduleOut(BaseModel):
    expired_members: int
    reminders: int
    warnings: int
    downgrades: int
