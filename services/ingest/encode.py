"""Turning validated requests into masked, publishable submissions (pure: no I/O)."""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, NamedTuple
from uuid import UUID

import msgspec
from pydantic import BaseModel
from pydantic_core import to_json

from services.ingest.language import detect_language
from services.ingest.mask import Masking
from services.ingest.parse import PlainFeedback
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
from shared.contracts.envelope import Envelope, EnvelopeEncoder, Record
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
    """payload_hash for a validated model: its JSON as given (fields in declaration order), so it does
    not change with masking or language rules."""
    return hashlib.sha256(kind.encode() + b"\x00" + model.__pydantic_serializer__.to_json(model)).hexdigest()


_SCORES = ("csat", "nps", "ces", "stars")
"""FeedbackIn's fields published as given when set (the others are masked, detected or renamed)."""
_LABELS = ("business_line", "region", "store_id", "product_id")
"""FeedbackIn's optional identifiers, published when set (pseudonymised, as the other identifiers)."""


class Lot(NamedTuple):
    """The records of one request, column by column, each already built under a proposed record id: what
    the idempotency store and the producer need, without an object per record. A record whose pair was
    claimed before is re-published under the stored id instead (see `value_for`)."""

    kind: str
    topic: TopicSpec
    external_ids: list[str]
    payload_hashes: list[str]
    ids: list[str]
    """Proposed record ids (UUID text), also each value's event id."""
    keys: list[bytes]
    values: list[bytes]
    channels: list[str]
    pii_masked: list[dict[str, int]]
    headers: tuple[tuple[str, bytes], ...]
    """Every record's headers but its event_id."""

    @property
    def size(self) -> int:
        """The number of records."""
        return len(self.ids)

    def value_for(self, index: int, record_id: str) -> bytes:
        """Record `index`'s value under another id. The proposed id is random text made after the body
        arrived, so it occurs in the value only where it was spliced in."""
        return self.values[index].replace(self.ids[index].encode(), record_id.encode())


_NO_PII: dict[str, int] = {}
"""Shared by records with nothing masked (read-only): pickled once per batch, not once per record."""


def new_ids(count: int) -> list[str]:
    """`count` random (version 4) UUIDs as text, from one read of the OS's random source."""
    digits = os.urandom(16 * count).hex()
    out = []
    for i in range(0, 32 * count, 32):
        h = digits[i : i + 32]
        out.append(f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{'89ab'[int(h[16], 16) & 3]}{h[17:20]}-{h[20:]}")
    return out


_ENCODE = msgspec.json.Encoder().encode


def feedback_lot(client: str, items: Sequence[FeedbackIn | PlainFeedback], masking: Masking) -> Lot:
    """Mask (text, metadata), pseudonymise (identifiers, and so the key and the stored external_id),
    hash and serialize validated records into a Lot, each under a new proposed id, in one pass (the
    bulk of a batch's CPU); the envelope's bytes are the contract's (EnvelopeEncoder)."""
    ids = new_ids(len(items))
    envelope = EnvelopeEncoder("feedback.received", client)
    masker = masking.masker()
    identifier = masker.identifier
    external_ids: list[str] = []
    hashes: list[str] = []
    keys: list[bytes] = []
    values: list[bytes] = []
    channels: list[str] = []
    masked: list[dict[str, int]] = []
    for item, record_id in zip(items, ids, strict=True):
        text = masker.text(item.text)
        metadata = item.metadata
        if metadata:
            metadata = masker.value(metadata)
        customer_id, external_id = identifier(item.customer_id), identifier(item.external_id)
        payload = {
            "feedback_id": record_id,
            "client_id": client,
            "external_id": external_id,
            "text": text,
            "language": item.language or detect_language(text),
            "metadata": metadata,
            "pii_masked": _NO_PII,  # counted below, the labels too
            "channel": item.channel,
            "customer_id": customer_id,
            "occurred_at": item.occurred_at,
        }
        for name in _SCORES:
            value = getattr(item, name)
            if value is not None:
                payload[name] = value
        for name in _LABELS:
            value = getattr(item, name)
            if value is not None:
                payload[name] = identifier(value)
        counts = masker.counts
        if counts:
            masker.counts = {}
            payload["pii_masked"] = counts
        else:
            counts = _NO_PII
        if isinstance(item, PlainFeedback):
            given = item.hash_json()
            body = _ENCODE(payload) if not metadata else to_json(payload)  # msgspec: see hash_json
        else:
            given = item.__pydantic_serializer__.to_json(item)
            body = to_json(payload)
        external_ids.append(external_id)
        hashes.append(hashlib.sha256(b"feedback\x00" + given).hexdigest())
        keys.append(customer_id.encode())
        values.append(envelope.value(record_id, item.occurred_at, customer_id, body))
        channels.append(item.channel)
        masked.append(counts)
    return Lot(
        kind="feedback",
        topic=FEEDBACK_RECEIVED,
        external_ids=external_ids,
        payload_hashes=hashes,
        ids=ids,
        keys=keys,
        values=values,
        channels=channels,
        pii_masked=masked,
        headers=tuple(envelope.headers()),
    )


def single_lot(sub: Submission) -> Lot:
    """One submission as a Lot, built under a new proposed id."""
    [record_id] = new_ids(1)
    key, value, headers = sub.build(UUID(record_id))
    return Lot(
        kind=sub.kind,
        topic=sub.topic,
        external_ids=[sub.external_id],
        payload_hashes=[sub.payload_hash],
        ids=[record_id],
        keys=[key],
        values=[value],
        channels=[sub.channel],
        pii_masked=[sub.pii_masked],
        headers=tuple(h for h in headers if h[0] != "event_id"),
    )


def feedback_submission(client: str, item: FeedbackIn, masking: Masking) -> Submission:
    """One record as a Submission (the channel adapters' path), built as a batch's records are."""
    lot = feedback_lot(client, [item], masking)

    def build(record_id: UUID) -> Record:
        event_id = str(record_id)
        return lot.keys[0], lot.value_for(0, event_id), [("event_id", event_id.encode()), *lot.headers]

    return Submission(
        external_id=lot.external_ids[0],
        kind="feedback",
        channel=item.channel,
        topic=FEEDBACK_RECEIVED,
        payload_hash=lot.payload_hashes[0],
        pii_masked=lot.pii_masked[0],
        build=build,
    )


EventIn = PurchaseIn | RefundIn | ReferralIn | SurveyCompletedIn
_EVENT_MODELS: dict[str, type[BaseModel]] = {
    "purchase": Purchase,
    "refund": Refund,
    "referral": Referral,
    "survey_completed": SurveyCompleted,
}


_EVENT_ENVELOPES: dict[str, type[Envelope[Any]]] = {name: Envelope[m] for name, m in _EVENT_MODELS.items()}  # type: ignore[valid-type]


def event_submission(client: str, event: EventIn, masking: Masking) -> Submission:
    """The event as published: every string in it (ids, order and survey ids, SKUs) pseudonymised
    where it holds personal data, and so its key (the customer, or the referrer) and external_id."""
    model = _EVENT_MODELS[event.type]
    occurred_at = event.occurred_at or datetime.now(UTC)
    masker = masking.masker()
    body = masker.identifiers(
        event.model_dump(exclude={"type", "occurred_at"} if not isinstance(event, PurchaseIn) else {"type"})
    )
    key = body["referrer_id"] if isinstance(event, ReferralIn) else body["customer_id"]

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
        external_id=body["external_id"],
        kind=event.type,
        channel=getattr(event, "channel", None) or "none",
        topic=COMMERCE_EVENTS,
        payload_hash=model_hash(event.type, event),
        pii_masked=masker.counts,
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
