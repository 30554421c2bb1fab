"""Request and response bodies of the ingest API. Unknown fields are refused so integrators see mistakes."""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from shared.contracts.feedback import Channel, Language

FUTURE_TOLERANCE = timedelta(minutes=5)
MAX_METADATA_BYTES = 8 * 1024
Id = Annotated[str, Field(min_length=1, max_length=200)]
Label = Annotated[str, Field(min_length=1, max_length=100)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


def not_in_future(value: datetime) -> datetime:
    if value.timestamp() > time.time() + FUTURE_TOLERANCE.total_seconds():
        raise ValueError("must not be more than 5 minutes in the future")
    return value


class FeedbackIn(Strict):
    """One feedback record. `text` may be empty only when at least one score is given."""

    model_config = ConfigDict(
        extra="forbid",
        str_strip_whitespace=True,
        json_schema_extra={
            "examples": [
                {
                    "external_id": "web-2026-000123",
                    "channel": "web",
                    "customer_id": "C10086",
                    "text": "包装破损但客服很专业",
                    "csat": 3,
                    "nps": 6,
                    "business_line": "retail",
                    "region": "east",
                    "store_id": "SH-017",
                    "occurred_at": "2026-11-20T09:30:00+08:00",
                }
            ]
        },
    )

    external_id: Id
    channel: Channel
    customer_id: Id
    csat: int | None = Field(default=None, ge=1, le=5)
    nps: int | None = Field(default=None, ge=0, le=10)
    ces: int | None = Field(default=None, ge=1, le=7)
    stars: int | None = Field(default=None, ge=1, le=5)
    # Declared after the scores so that its validator can see them.
    text: str = Field(default="", max_length=10_000, validate_default=True)
    language: Language | None = None
    business_line: Label | None = None
    region: Label | None = None
    store_id: Label | None = None
    product_id: Label | None = None
    occurred_at: AwareDatetime
    metadata: dict[str, Any] = Field(default_factory=dict)

    _future = field_validator("occurred_at")(not_in_future)

    @field_validator("metadata")
    @classmethod
    def _metadata_size(cls, value: dict[str, Any]) -> dict[str, Any]:
        if value and len(json.dumps(value, ensure_ascii=False).encode()) > MAX_METADATA_BYTES:
            raise ValueError("must be at most 8 KB as JSON")
        return value

    @field_validator("text", mode="after")
    @classmethod
    def _text_or_score(cls, value: str, info: ValidationInfo) -> str:
        if value:
            return value
        data = info.data  # a copy each time it is read
        if all(data.get(name) is None for name in ("csat", "nps", "ces", "stars")):
            raise ValueError("required when no score (csat, nps, ces, stars) is given")
        return value


class FeedbackBatchIn(Strict):
    records: list[dict[str, Any]] = Field(min_length=1, max_length=1000)
    """Each item is validated on its own, so one bad record does not reject the others."""


class LineItemIn(Strict):
    sku: Id
    quantity: int = Field(ge=1)
    unit_price: Decimal = Field(ge=0, max_digits=14, decimal_places=2)


class PurchaseIn(Strict):
    type: Literal["purchase"]
    external_id: Id
    order_id: Id
    customer_id: Id
    amount: Decimal = Field(gt=0, max_digits=14, decimal_places=2)
    currency: str = Field(pattern=r"^[A-Z]{3}$")
    occurred_at: AwareDatetime
    items: list[LineItemIn] = Field(default_factory=list, max_length=500)
    channel: Channel | None = None
    store_id: Label | None = None

    _future = field_validator("occurred_at")(not_in_future)


class RefundIn(Strict):
    type: Literal["refund"]
    external_id: Id
    order_id: Id
    customer_id: Id
    amount: Decimal = Field(gt=0, max_digits=14, decimal_places=2)
    occurred_at: AwareDatetime | None = None


class ReferralIn(Strict):
    type: Literal["referral"]
    external_id: Id
    referrer_id: Id
    referee_id: Id
    occurred_at: AwareDatetime | None = None


class SurveyCompletedIn(Strict):
    type: Literal["survey_completed"]
    external_id: Id
    customer_id: Id
    survey_id: Id
    occurred_at: AwareDatetime | None = None


EventIn = Annotated[PurchaseIn | RefundIn | ReferralIn | SurveyCompletedIn, Field(discriminator="type")]


class EmailWebhookIn(Strict):
    """An inbound e-mail as mail gateways post it."""

    message_id: Id
    from_: str = Field(alias="from", min_length=3, max_length=320)
    to: str | None = Field(default=None, max_length=320)
    subject: str = Field(default="", max_length=1000)
    body: str = Field(default="", max_length=10_000)
    received_at: AwareDatetime
    customer_id: Id | None = None
    business_line: Label | None = None


class TranscriptSegment(Strict):
    speaker: Literal["customer", "agent", "ivr"]
    text: str = Field(max_length=10_000)
    start_s: float | None = Field(default=None, ge=0)


class CallTranscriptIn(Strict):
    """A call-centre transcript: what the customer said becomes the feedback text."""

    call_id: Id
    customer_id: Id
    agent_id: Label | None = None
    started_at: AwareDatetime
    segments: list[TranscriptSegment] = Field(min_length=1, max_length=2000)
    csat: int | None = Field(default=None, ge=1, le=5)
    business_line: Label | None = None
    region: Label | None = None


Outcome = Literal["accepted", "duplicate", "conflict", "rejected"]


class Accepted(BaseModel):
    id: UUID
    status: Literal["accepted", "duplicate"]


class FeedbackAccepted(BaseModel):
    feedback_id: UUID
    status: Literal["accepted", "duplicate"]


class EventAccepted(BaseModel):
    event_id: UUID
    status: Literal["accepted", "duplicate"]


class FieldError(BaseModel):
    field: str
    message: str


class BatchItemResult(BaseModel):
    index: int
    external_id: str | None
    status: Outcome
    feedback_id: UUID | None = None
    errors: list[FieldError] = Field(default_factory=list)


class BatchResult(BaseModel):
    accepted: int
    duplicate: int
    conflict: int
    rejected: int
    results: list[BatchItemResult]
