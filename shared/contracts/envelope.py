"""The envelope every event travels in, and its JSON encoding on the wire."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Generic, TypeVar
from uuid import UUID, uuid4

from pydantic import BaseModel, ConfigDict, Field, StrictInt
from pydantic_core import to_json

from shared.contracts.bounds import Timestamp

PayloadT = TypeVar("PayloadT", bound=BaseModel)


class Contract(BaseModel):
    """Base for payloads: consumers ignore unknown fields so producers can evolve additively."""

    model_config = ConfigDict(extra="ignore", frozen=True)


class Envelope(BaseModel, Generic[PayloadT]):
    """Metadata common to every event; `key` is the Kafka partition key."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    event_id: UUID = Field(default_factory=uuid4)
    type: str = Field(min_length=1, max_length=100)
    version: StrictInt = Field(default=1, ge=1, le=1000)
    occurred_at: Timestamp
    produced_at: Timestamp = Field(default_factory=lambda: datetime.now(UTC))
    source: str = Field(min_length=1, max_length=100)
    key: str = Field(min_length=1, max_length=200)
    payload: PayloadT

    def to_bytes(self) -> bytes:
        return self.model_dump_json().encode()

    def record(self) -> Record:
        return self.key.encode(), self.to_bytes(), self.headers()

    def headers(self) -> list[tuple[str, bytes]]:
        """Kafka headers that let tools route or filter without parsing the value."""
        return [
            ("event_id", str(self.event_id).encode()),
            ("event_type", self.type.encode()),
            ("event_version", str(self.version).encode()),
        ]


Record = tuple[bytes, bytes, list[tuple[str, bytes]]]
"""A Kafka record ready to send: (key, value, headers)."""


class EnvelopeEncoder:
    """The wire bytes of envelopes of one type from one source, for hot producers: what
    `Envelope.to_bytes()` makes for the same fields, field for field and in the same order, from a payload
    already serialized (tests compare the two). One encoder serves a request or a batch: `produced_at`,
    unless given, is read when it is made."""

    def __init__(
        self, event_type: str, source: str, version: int = 1, produced_at: datetime | None = None
    ) -> None:
        self.event_type, self.version = event_type, version
        produced_at = produced_at or datetime.now(UTC)
        self._after_id = b'","type":' + to_json(event_type) + b',"version":' + str(version).encode()
        self._after_id += b',"occurred_at":'
        self._after_time = b',"produced_at":' + to_json(produced_at) + b',"source":' + to_json(source)
        self._after_time += b',"key":'
        self._headers = [("event_type", event_type.encode()), ("event_version", str(version).encode())]

    def value(self, event_id: str, occurred_at: datetime, key: str, payload: bytes) -> bytes:
        """The envelope of `payload` (a JSON object's bytes), whose event id is `event_id` (UUID text)."""
        return b"".join(
            (
                b'{"event_id":"',
                event_id.encode(),
                self._after_id,
                to_json(occurred_at),
                self._after_time,
                to_json(key),
                b',"payload":',
                payload,
                b"}",
            )
        )

    def headers(self, event_id: str | None = None) -> list[tuple[str, bytes]]:
        """The record's headers (as `Envelope.headers()`); without `event_id`, all but that one."""
        rest = list(self._headers)
        return rest if event_id is None else [("event_id", event_id.encode()), *rest]


def encode_record(
    *,
    event_id: UUID | str,
    event_type: str,
    occurred_at: datetime,
    source: str,
    key: str,
    payload: dict[str, object],
    version: int = 1,
) -> Record:
    """The fast path for hot producers: the same bytes as Envelope.to_bytes() for an already-valid
    payload, without building models. Tests decode its output under the topic's contract."""
    event_id = str(event_id)
    encoder = EnvelopeEncoder(event_type, source, version)
    return (
        key.encode(),
        encoder.value(event_id, occurred_at, key, to_json(payload)),
        encoder.headers(event_id),
    )
