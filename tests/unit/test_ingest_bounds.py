"""Request bodies refuse what the consumers could not store (times outside the window, amounts past the
ledger's range) and numbers that mean something else (a boolean as a number, an integer as a time); the
time window at the edge is configurable."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from services.alerting.http.api import SilenceCreate
from services.alerting.lifecycle.silences import Matcher
from services.ingest import times
from services.ingest.config import TimeBounds
from services.ingest.parse import plain_records
from services.ingest.schemas import (
    CallTranscriptIn,
    EmailWebhookIn,
    FeedbackIn,
    PurchaseIn,
    ReferralIn,
    RefundIn,
    SurveyCompletedIn,
)
from services.loyalty.api import RedemptionIn
from shared.settings import ConfigurationError, load_settings

AT = "2026-11-20T09:30:00+08:00"
FEEDBACK = {"external_id": "e", "channel": "web", "customer_id": "C1", "text": "t", "occurred_at": AT}
PURCHASE = {
    "type": "purchase",
    "external_id": "p",
    "order_id": "O1",
    "customer_id": "C1",
    "amount": "12.50",
    "currency": "CNY",
    "occurred_at": AT,
    "items": [{"sku": "S", "quantity": 1, "unit_price": "12.50"}],
}
REFUND = {"type": "refund", "external_id": "r", "order_id": "O1", "customer_id": "C1", "amount": "1"}
REFERRAL = {"type": "referral", "external_id": "f", "referrer_id": "C1", "referee_id": "C2"}
SURVEY = {"type": "survey_completed", "external_id": "s", "customer_id": "C1", "survey_id": "S1"}
MAIL = {"message_id": "m", "from": "a@b.cn", "body": "hello", "received_at": AT}
CALL = {
    "call_id": "c",
    "customer_id": "C1",
    "started_at": AT,
    "segments": [{"speaker": "customer", "text": "hi"}],
}
SILENCE = {"matchers": [{"name": "rule", "value": "r"}], "ends_at": AT, "created_by": "ops", "comment": "c"}

CASES: list[tuple[type[BaseModel], dict[str, Any], str, Any]] = [
    (FeedbackIn, FEEDBACK, "occurred_at", "0001-01-01T00:00:00+00:00"),  # as seen: 202, then loyalty failed
    (FeedbackIn, FEEDBACK, "occurred_at", "1999-12-31T23:59:59Z"),
    (FeedbackIn, FEEDBACK, "occurred_at", 0),  # as seen: read as 1970
    (FeedbackIn, FEEDBACK, "occurred_at", "1700000000"),
    (FeedbackIn, FEEDBACK, "csat", True),
    (FeedbackIn, FEEDBACK, "nps", "7"),
    (PurchaseIn, PURCHASE, "amount", "999999999999.99"),  # as seen: its points overflowed the ledger
    (PurchaseIn, PURCHASE, "amount", "10000000000"),
    (PurchaseIn, PURCHASE, "occurred_at", "0001-01-01T00:00:00+00:00"),
    (PurchaseIn, PURCHASE, "occurred_at", 1_700_000_000),
    (PurchaseIn, PURCHASE, "items", [{"sku": "S", "quantity": True, "unit_price": "1"}]),
    (PurchaseIn, PURCHASE, "items", [{"sku": "S", "quantity": 10**7, "unit_price": "1"}]),
    (PurchaseIn, PURCHASE, "items", [{"sku": "S", "quantity": 1, "unit_price": "1e11"}]),
    (RefundIn, REFUND, "amount", "999999999999.99"),
    (RefundIn, REFUND, "occurred_at", 0),
    (RefundIn, REFUND, "occurred_at", "2999-01-01T00:00:00Z"),
    (ReferralIn, REFERRAL, "occurred_at", "0001-01-01T00:00:00Z"),
    (SurveyCompletedIn, SURVEY, "occurred_at", 0),
    (EmailWebhookIn, MAIL, "received_at", 1_700_000_000),
    (CallTranscriptIn, CALL, "started_at", "1999-01-01T00:00:00Z"),
    (CallTranscriptIn, CALL, "segments", [{"speaker": "customer", "text": "hi", "start_s": False}]),
    (CallTranscriptIn, CALL, "segments", [{"speaker": "customer", "text": "hi", "start_s": "1.5"}]),
    (CallTranscriptIn, CALL, "csat", True),
    (SilenceCreate, SILENCE, "ends_at", 1_700_000_000),
    (SilenceCreate, SILENCE, "ends_at", "2026-11-20T09:30:00"),  # naive: compared with an aware clock
    (SilenceCreate, SILENCE, "matchers", [{"name": "rule", "value": "v" * 201}]),
    (RedemptionIn, {"points": 10, "reference": "x"}, "points", True),
]


@pytest.mark.parametrize(("model", "valid", "field", "bad"), CASES, ids=lambda v: str(v)[:24])
def test_request_bodies_refuse_out_of_bounds_and_wrongly_typed_values_naming_the_field(
    model, valid, field, bad
):
    model.model_validate_json(json.dumps(valid))  # the body is valid as it is
    body = {**valid, field: bad}
    # Direct routes validate the raw JSON; FastAPI's own routes validate the parsed body.
    for read in (lambda: model.model_validate_json(json.dumps(body)), lambda: model.model_validate(body)):
        with pytest.raises(ValidationError) as caught:
            read()
        assert {str(e["loc"][0]) for e in caught.value.errors()} == {field}, caught.value.errors()


def test_the_largest_amount_with_cents_and_the_edge_of_the_window_are_accepted():
    purchase = PurchaseIn.model_validate(
        {**PURCHASE, "amount": "9999999999.99", "occurred_at": "2000-01-01T00:00Z"}
    )
    assert str(purchase.amount) == "9999999999.99"
    with pytest.raises(ValidationError, match=r"less than or equal to 9999999999\.99"):
        PurchaseIn.model_validate({**PURCHASE, "amount": "10000000000.00"})
    assert Matcher(name="rule", value="v" * 200).value == "v" * 200


def test_the_accepted_window_is_configurable(monkeypatch):
    ahead = (datetime.now(UTC) + timedelta(minutes=30)).isoformat()
    body = json.dumps({"records": [{**FEEDBACK, "occurred_at": ahead}]}).encode()
    with pytest.raises(ValidationError, match="5 minutes in the future"):
        FeedbackIn.model_validate({**FEEDBACK, "occurred_at": ahead})
    assert plain_records(body) is None

    later = datetime(2020, 1, 1, tzinfo=UTC)
    monkeypatch.setattr(times, "TIME_BOUNDS", TimeBounds(earliest_time=later, future_tolerance_s=3600))
    assert FeedbackIn.model_validate({**FEEDBACK, "occurred_at": ahead}).occurred_at.isoformat() == ahead
    assert plain_records(body) is not None
    with pytest.raises(ValidationError, match="must not be before 2020-01-01"):
        FeedbackIn.model_validate({**FEEDBACK, "occurred_at": "2019-12-31T23:59:59Z"})


def test_an_earliest_time_before_the_contracts_window_is_refused_at_start_up(monkeypatch):
    monkeypatch.setenv("INGEST_EARLIEST_TIME", "1990-01-01T00:00:00Z")
    with pytest.raises(ConfigurationError, match="INGEST_EARLIEST_TIME"):
        load_settings(TimeBounds)
    monkeypatch.setenv("INGEST_EARLIEST_TIME", "2010-01-01T00:00:00Z")
    monkeypatch.setenv("INGEST_FUTURE_TOLERANCE_S", "60")
    assert load_settings(TimeBounds).future_tolerance_s == 60
