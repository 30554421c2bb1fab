"""What a consumer hands its handler: decoded events with where they came from, and the handler's type."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeAlias

from aiokafka.structs import ConsumerRecord
from pydantic import BaseModel

from shared.contracts.envelope import Envelope

Record: TypeAlias = ConsumerRecord  # aiokafka is untyped: ConsumerRecord[bytes, bytes] at run time


@dataclass(frozen=True)
class ConsumedEvent:
    envelope: Envelope[BaseModel]
    topic: str
    partition: int
    offset: int


Handler = Callable[[list[ConsumedEvent]], Awaitable[None]]
"""Applies a batch of events durably, all or nothing (one transaction), idempotently on event_id: the
consumer may hand it any part of a batch again, e.g. the healthy halves of a batch it split."""

Item: TypeAlias = tuple[ConsumedEvent, Record]
"""An event with the record it was decoded from (whose original bytes a DLQ receives)."""


class PoisonEvent(Exception):
    """Raised by a handler for one event that can never succeed: it goes to the DLQ, the rest is retried."""

    def __init__(self, event: ConsumedEvent, reason: str) -> None:
        super().__init__(reason)
        self.event = event
