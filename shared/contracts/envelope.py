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
    value = to_json(
        {
            "event_id": event_id,
            "type": event_type,
            "version": version,
            "occurred_at": occurred_at,
            "produced_at": datetime.now(UTC),
            "source": source,
            "key": key,
            "payload": payload,
        }
    )
    headers = [
        ("event_id", event_id.encode()),
        ("event_type", event_type.encode()),
        ("event_version", str(version).encode()),
    ]
    return key.encode(), value, headers
