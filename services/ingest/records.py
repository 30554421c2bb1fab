"""Turning validated requests into masked, publishable submissions (pure: no I/O)."""

from __future__ import annotations

import hashlib
import hmac
import os
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
    """payload_hash for a validated model: its JSON as given (fields in declaration order), so it does
    not change with masking or language rules."""
    return hashlib.sha256(kind.encode() + b"\x00" + model.__pydantic_serializer__.to_json(model)).hexdigest()


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


def feedback_value(parts: FeedbackParts, source: bytes, event_id: bytes, produced_at: bytes) -> bytes:
    """The bytes encode_record would make (tests compare them), spliced: the payload is serialized once,
    before the id is known. `source` and `produced_at` are JSON strings, `event_id` the id's text."""
    return b"".join(
        (
            b'{"event_id":"',
            event_id,
            b'","type":"feedback.received","version":1,"occurred_at":',
            parts.occurred_at,
            b',"produced_at":',
            produced_at,
            b',"source":',
            source,
            b',"key":',
            to_json(parts.customer_id),
            b',"payload":{"feedback_id":"',
            event_id,
            b'",',
            parts.payload[1:],
            b"}",
        )
    )


_FEEDBACK_HEADERS = (("event_type", b"feedback.received"), ("event_version", b"1"))


def feedback_from_parts(client: str, parts: FeedbackParts) -> Submission:
    source = to_json(client)

    def build(record_id: UUID) -> Record:
        event_id = str(record_id).encode()
        value = feedback_value(parts, source, event_id, to_json(datetime.now(UTC)))
        return parts.customer_id.encode(), value, [("event_id", event_id), *_FEEDBACK_HEADERS]

    return Submission(
        external_id=parts.external_id,
        kind="feedback",
        channel=parts.channel,
        topic=FEEDBACK_RECEIVED,
        payload_hash=parts.payload_hash,
        pii_masked=parts.pii_masked,
        build=build,
    )


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


def feedback_lot(client: str, items: list[FeedbackIn], pii_kinds: Iterable[PiiKind]) -> Lot:
    """Mask, hash and serialize validated records into a Lot, each under a new proposed id."""
    kinds = pii_kinds if isinstance(pii_kinds, frozenset) else frozenset(pii_kinds)
    parts = [feedback_parts(client, item, kinds) for item in items]
    ids = new_ids(len(parts))
    source, produced_at = to_json(client), to_json(datetime.now(UTC))
    return Lot(
        kind="feedback",
        topic=FEEDBACK_RECEIVED,
        external_ids=[p.external_id for p in parts],
        payload_hashes=[p.payload_hash for p in parts],
        ids=ids,
        keys=[p.customer_id.encode() for p in parts],
        values=[feedback_value(p, source, i.encode(), produced_at) for p, i in zip(parts, ids, strict=True)],
        channels=[p.channel for p in parts],
        pii_masked=[p.pii_masked or _NO_PII for p in parts],
        headers=_FEEDBACK_HEADERS,
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
