"""Turning validated requests into masked, publishable submissions (pure: no I/O)."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any, NamedTuple
from uuid import UUID

from pydantic import BaseModel
from pydantic_core import to_json

from services.ingest.language import detect_language
from services.ingest.pii import Masker, PiiKind
from services.ingest.schemas import (
    CallTranscriptIn,
    EmailWebhookIn,
    FeedbackIn,
    PurchaseIn,
    ReferralIn,
    RefundIn,
    SurveyCompletedIn,
)
from shared.contracts.commerce import Purchase, Referral, Refund, SurveyCompleted
from shared.contracts.envelope import Envelope, Record
from shared.contracts.registry import COMMERCE_EVENTS, FEEDBACK_RECEIVED, TopicSpec


class Submission(NamedTuple):
    """One record ready for the idempotency store and the broker (a tuple: one is built per record)."""

    external_id: str
    kind: str
    channel: str
    topic: TopicSpec
    payload_hash: str
    pii_masked: dict[str, int]
    build: Callable[[UUID], Record]
    """The record to publish, given the record id the store assigned (also the event id)."""


def model_hash(kind: str, model: BaseModel) -> str:
    """payload_hash for a validated model: its JSON (fields in declaration order) — the fast path."""
    return hashlib.sha256(kind.encode() + b"\x00" + model.model_dump_json().encode()).hexdigest()


_OPTIONAL_FIELDS = ("csat", "nps", "ces", "stars", "business_line", "region", "store_id", "product_id")
"""FeedbackIn's fields published as given when set (the others are masked, detected or renamed)."""


class FeedbackParts(NamedTuple):
    """A feedback record's publishable parts before it has an id: plain data, so a helper process can
    make them (see services.ingest.prepare). The payload is JSON already, without its feedback_id."""

    external_id: str
    channel: str
    customer_id: str
    payload_hash: str
    pii_masked: dict[str, int]
    occurred_at: bytes
    """JSON string."""
    payload: bytes
    """JSON object: every payload field but feedback_id, in the contract's order."""


def feedback_parts(client: str, item: FeedbackIn, pii_kinds: Iterable[PiiKind]) -> FeedbackParts:
    """Mask, detect the language, hash and serialize one validated record."""
    masker = Masker(pii_kinds if isinstance(pii_kinds, frozenset) else frozenset(pii_kinds))
    text = masker.text(item.text)
    metadata = masker.value(item.metadata) if item.metadata else {}
    language = item.language or detect_language(text)
    payload = {
        "client_id": client,
        "external_id": item.external_id,
        "text": text,
        "language": language,
        "metadata": metadata,
        "pii_masked": masker.counts,
        "channel": item.channel,
        "customer_id": item.customer_id,
        "occurred_at": item.occurred_at,
    }
    for name in _OPTIONAL_FIELDS:
        value = getattr(item, name)
        if value is not None:
            payload[name] = value
    return FeedbackParts(
        external_id=item.external_id,
        channel=item.channel,
        customer_id=item.customer_id,
        payload_hash=model_hash("feedback", item),
        pii_masked=masker.counts,
        occurred_at=to_json(item.occurred_at),
        payload=to_json(payload),
    )


def feedback_from_parts(client: str, parts: FeedbackParts) -> Submission:
    source, key = to_json(client), to_json(parts.customer_id)

    def build(record_id: UUID) -> Record:
        """The bytes encode_record would make (tests compare them), spliced: the payload is serialized
        once, before the id is known."""
        event_id = str(record_id).encode()
        value = b"".join(
            (
                b'{"event_id":"',
                event_id,
                b'","type":"feedback.received","version":1,"occurred_at":',
                parts.occurred_at,
                b',"produced_at":',
                to_json(datetime.now(UTC)),
                b',"source":',
                source,
                b',"key":',
                key,
                b',"payload":{"feedback_id":"',
                event_id,
                b'",',
                parts.payload[1:],
                b"}",
            )
        )
        headers = [("event_id", event_id), ("event_type", b"feedback.received"), ("event_version", b"1")]
        return parts.customer_id.encode(), value, headers

    return Submission(
        external_id=parts.external_id,
        kind="feedback",
        channel=parts.channel,
        topic=FEEDBACK_RECEIVED,
        payload_hash=parts.payload_hash,
        pii_masked=parts.pii_masked,
        build=build,
    )


def feedback_submission(client: str, item: FeedbackIn, pii_kinds: Iterable[PiiKind]) -> Submission:
    return feedback_from_parts(client, feedback_parts(client, item, pii_kinds))


EventIn = PurchaseIn | RefundIn | ReferralIn | SurveyCompletedIn
_EVENT_MODELS: dict[str, type[BaseModel]] = {
    "purchase": Purchase,
    "refund": Refund,
    "referral": Referral,
    "survey_completed": SurveyCompleted,
}


_EVENT_ENVELOPES: dict[str, type[Envelope[Any]]] = {name: Envelope[m] for name, m in _EVENT_MODELS.items()}  # type: ignore[valid-type]


def event_submission(client: str, event: EventIn) -> Submission:
    model = _EVENT_MODELS[event.type]
    key = event.referrer_id if isinstance(event, ReferralIn) else event.customer_id
    occurred_at = event.occurred_at or datetime.now(UTC)
    body = event.model_dump(
        exclude={"type", "occurred_at"} if not isinstance(event, PurchaseIn) else {"type"}
    )

    def build(record_id: UUID) -> Record:
        envelope = _EVENT_ENVELOPES[event.type](
            event_id=record_id,
            type=event.type,
            occurred_at=occurred_at,
            source=client,
            key=key,
            payload=model(client_id=client, **body),
        )
        return envelope.record()

    return Submission(
        external_id=event.external_id,
        kind=event.type,
        channel=getattr(event, "channel", None) or "none",
        topic=COMMERCE_EVENTS,
        payload_hash=model_hash(event.type, event),
        pii_masked={},
        build=build,
    )


def pseudonym(secret: str, identifier: str) -> str:
    """A stable customer id for a sender known only by address: keyed hash, not reversible."""
    digest = hmac.new(secret.encode(), identifier.strip().lower().encode(), hashlib.sha256).hexdigest()
    return f"anon-{digest[:24]}"


def email_to_feedback(mail: EmailWebhookIn, pseudonym_key: str) -> FeedbackIn:
    text = f"{mail.subject}\n\n{mail.body}".strip() if mail.subject else mail.body
    return FeedbackIn(
        external_id=f"email:{mail.message_id}",
        channel="email",
        customer_id=mail.customer_id or pseudonym(pseudonym_key, mail.from_),
        text=text[:10_000],
        business_line=mail.business_line,
        occurred_at=mail.received_at,
        metadata={"to": mail.to} if mail.to else {},
    )


def transcript_to_feedback(call: CallTranscriptIn) -> FeedbackIn:
    said = [s.text.strip() for s in call.segments if s.speaker == "customer" and s.text.strip()]
    return FeedbackIn(
        external_id=f"call:{call.call_id}",
        channel="phone",
        customer_id=call.customer_id,
        text="\n".join(said)[:10_000],
        csat=call.csat,
        business_line=call.business_line,
        region=call.region,
        occurred_at=call.started_at,
        metadata={
            "agent_id": call.agent_id,
            "segments": len(call.segments),
            "customer_segments": len(said),
        },
    )
