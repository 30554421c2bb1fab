"""Payloads of commerce.events.v1: business events posted by other systems, consumed by loyalty (points,
tiers) and alerting (refund-rate and order-drop rules)."""

from __future__ import annotations

from pydantic import Field

from shared.contracts.bounds import Amount, IdText, LabelText, Price, Quantity, Timestamp
from shared.contracts.envelope import Contract
from shared.contracts.feedback import Channel

MAX_LINE_ITEMS = 500


class CommerceEvent(Contract):
    client_id: str = Field(min_length=1, max_length=100)
    external_id: str = Field(min_length=1, max_length=200)


class LineItem(Contract):
    sku: IdText
    quantity: Quantity
    unit_price: Price


class Purchase(CommerceEvent):
    order_id: str = Field(min_length=1, max_length=200)
    customer_id: str = Field(min_length=1, max_length=200)
    amount: Amount
    currency: str = Field(pattern=r"^[A-Z]{3}$")
    occurred_at: Timestamp
    items: list[LineItem] = Field(default_factory=list, max_length=MAX_LINE_ITEMS)
    channel: Channel | None = None
    store_id: LabelText | None = None
    business_line: LabelText | None = None
    """The line of business the order belongs to (as feedback names it): refund rates are per line."""


class Refund(CommerceEvent):
    order_id: str = Field(min_length=1, max_length=200)
    customer_id: str = Field(min_length=1, max_length=200)
    amount: Amount
    business_line: LabelText | None = None
    """Where absent, the refund counts for the line of its order's purchase (when that was seen)."""


class Referral(CommerceEvent):
    referrer_id: str = Field(min_length=1, max_length=200)
    referee_id: str = Field(min_length=1, max_length=200)


class SurveyCompleted(CommerceEvent):
    customer_id: str = Field(min_length=1, max_length=200)
    survey_id: str = Field(min_length=1, max_length=200)
