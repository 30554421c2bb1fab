"""Payloads of commerce.events.v1: business events posted by other systems, consumed by loyalty."""

from __future__ import annotations

from decimal import Decimal

from pydantic import AwareDatetime, Field

from shared.contracts.envelope import Contract
from shared.contracts.feedback import Channel


class CommerceEvent(Contract):
    client_id: str = Field(min_length=1, max_length=100)
    external_id: str = Field(min_length=1, max_length=200)


class LineItem(Contract):
    sku: str
    quantity: int = Field(ge=1)
    unit_price: Decimal = Field(ge=0)


class Purchase(CommerceEvent):
    order_id: str = Field(min_length=1, max_length=200)
    customer_id: str = Field(min_length=1, max_length=200)
    amount: Decimal = Field(gt=0, max_digits=14, decimal_places=2)
    currency: str = Field(pattern=r"^[A-Z]{3}$")
    occurred_at: AwareDatetime
    items: list[LineItem] = Field(default_factory=list)
    channel: Channel | None = None
    store_id: str | None = None


class Refund(CommerceEvent):
    order_id: str = Field(min_length=1, max_length=200)
    customer_id: str = Field(min_length=1, max_length=200)
    amount: Decimal = Field(gt=0, max_digits=14, decimal_places=2)


class Referral(CommerceEvent):
    referrer_id: str = Field(min_length=1, max_length=200)
    referee_id: str = Field(min_length=1, max_length=200)


class SurveyCompleted(CommerceEvent):
    customer_id: str = Field(min_length=1, max_length=200)
    survey_id: str = Field(min_length=1, max_length=200)
