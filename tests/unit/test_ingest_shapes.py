"""The request schemas say what the validators require, so a request valid by the document is accepted."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jsonschema_rs
import pytest
from pydantic import BaseModel, ValidationError

from services.ingest.encode import email_to_feedback, transcript_to_feedback
from services.ingest.schemas import CallTranscriptIn, EmailWebhookIn, FeedbackIn, PurchaseIn

WHEN = "2020-01-01T00:00:00Z"
FEEDBACK = {"external_id": "e", "channel": "web", "customer_id": "c", "occurred_at": WHEN}
EMAIL = {"message_id": "m", "from": "a@b", "received_at": WHEN}
CALL = {
    "call_id": "k",
    "customer_id": "c",
    "started_at": WHEN,
    "segments": [{"speaker": "agent", "text": "hi"}],
}
PURCHASE = {**FEEDBACK, "type": "purchase", "order_id": "o", "currency": "EUR"}
del PURCHASE["channel"]


def agree(model: type[BaseModel], body: dict[str, Any], then: Callable[[Any], object] = str) -> bool:
    """Whether ingest (the model, `then` what the route makes of it) and the model's JSON schema give `body`
    the same verdict; returns that verdict."""
    documented = jsonschema_rs.validator_for(model.model_json_schema()).is_valid(body)
    try:
        then(model.model_validate(body))
        accepted = True
    except ValidationError:
        accepted = False
    assert documented == accepted, body
    return accepted


@pytest.mark.parametrize(
    ("extra", "valid"),
    [
        ({}, False),
        ({"text": "  "}, False),
        ({"text": "ok"}, True),
        ({"nps": 3}, True),
        ({"csat": None}, False),
    ],
)
def test_feedback_needs_text_or_a_score_in_the_document_too(extra: dict[str, Any], valid: bool) -> None:
    assert agree(FeedbackIn, {**FEEDBACK, **extra}) is valid


@pytest.mark.parametrize(
    ("extra", "valid"),
    [({}, False), ({"subject": " "}, False), ({"subject": "s"}, True), ({"body": "b"}, True)],
)
def test_an_email_needs_a_subject_or_body_in_the_document_too(extra: dict[str, Any], valid: bool) -> None:
    assert agree(EmailWebhookIn, {**EMAIL, **extra}, lambda mail: email_to_feedback(mail, "k")) is valid


def test_a_transcript_needs_the_customer_speaking_or_a_csat_in_the_document_too() -> None:
    assert agree(CallTranscriptIn, CALL, transcript_to_feedback) is False
    assert agree(CallTranscriptIn, {**CALL, "csat": 4}, transcript_to_feedback) is True
    spoke = [*CALL["segments"], {"speaker": "customer", "text": "late"}]
    assert agree(CallTranscriptIn, {**CALL, "segments": spoke}, transcript_to_feedback) is True


@pytest.mark.parametrize(
    ("amount", "valid"),
    [
        ("12.50", True),
        ("", False),
        ("1e2", False),
        (" 5", False),
        ("0.00", False),
        ("9999999999.99", True),
        ("10000000000", False),
        (0.57, True),
        (1.234, False),
        (0, False),
        (True, False),
    ],
)
def test_an_amount_is_accepted_exactly_when_the_document_says_so(amount: Any, valid: bool) -> None:
    assert agree(PurchaseIn, {**PURCHASE, "amount": amount}) is valid
