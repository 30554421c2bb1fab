"""Dead-letter records and the limit that halts a consumer when invalid messages look systematic."""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

import structlog
from aiokafka.structs import ConsumerRecord

from shared.kafka.backoff import Backoff, pause
from shared.kafka.producer import BrokerUnavailable, EventProducer
from shared.observability import metrics

log = structlog.get_logger(__name__)
DlqCause = Literal["invalid", "poison", "deterministic", "unknown"]
"""Why a record was dead-lettered: it did not decode; its handler declared it poison; the handler failed
on it in a way no retry can fix; or in a way not recognised, as often as the consumer allows."""


class DlqLimitExceeded(Exception):
    """Too many invalid messages: most likely a bad deploy or producer, so stop instead of dead-lettering."""


@dataclass
class DlqLimit:
    """Halts when, among the last `window` messages, more than `max_invalid_ratio` were invalid,
    or when more than `max_consecutive_count` invalid messages arrive in a row.

    A message is invalid when it does not decode (`record`) or when its handler fails on it and it is
    dead-lettered (`record_handled`), so a deploy whose handler fails on every event halts too. The two
    runs are counted apart, each in its own order: messages are decoded as they arrive, and handled later,
    in batches."""

    max_invalid_ratio: float = 0.5
    max_consecutive_count: int = 100
    window: int = 1000
    min_sample: int = 200
    _recent: deque[bool] = field(default_factory=deque, repr=False)
    _consecutive: int = 0
    _consecutive_failed: int = 0

    def record(self, *, invalid: bool) -> None:
        """Count one decoded message; raise DlqLimitExceeded if dead-lettering it would break the limit."""
        self._recent.append(invalid)
        if len(self._recent) > self.window:
            self._recent.popleft()
        self._consecutive = self._consecutive + 1 if invalid else 0
        if self._consecutive > self.max_consecutive_count:
            raise DlqLimitExceeded(f"{self._consecutive} consecutive invalid messages")
        self._check_ratio()

    def record_handled(self, *, dead_lettered: bool) -> None:
        """Count the handler's verdict on messages `record` counted valid: applied (any number), or one
        dead-lettered, which then counts as invalid; raise DlqLimitExceeded if that breaks the limit."""
        if not dead_lettered:
            self._consecutive_failed = 0
            return
        self._consecutive_failed += 1
        for index in range(len(self._recent) - 1, -1, -1):
            if not self._recent[index]:
                self._recent[index] = True
                break
        if self._consecutive_failed > self.max_consecutive_count:
            raise DlqLimitExceeded(f"{self._consecutive_failed} consecutive events failed in their handler")
        self._check_ratio()

    def _check_ratio(self) -> None:
        invalid_count = sum(self._recent)
        if (
            len(self._recent) >= self.min_sample
            and invalid_count / len(self._recent) > self.max_invalid_ratio
        ):
            raise DlqLimitExceeded(f"{invalid_count} of the last {len(self._recent)} messages were invalid")


def dlq_headers(
    record: ConsumerRecord, error: str, cause: DlqCause = "invalid", *, service: str
) -> list[tuple[str, bytes]]:
    """The original headers plus where the record came from, which service refused it and why.

    `dlq.service` matters where a topic has several consumers (feedback.received.v1: sentiment and
    loyalty): each dead-letters on its own, into the same DLQ."""
    original = list(record.headers or ())
    return [
        *original,
        ("dlq.original.topic", record.topic.encode()),
        ("dlq.original.partition", str(record.partition).encode()),
        ("dlq.original.offset", str(record.offset).encode()),
        ("dlq.original.timestamp", str(record.timestamp).encode()),
        ("dlq.service", service.encode()),
        ("dlq.cause", cause.encode()),
        ("dlq.error", error[:2000].encode()),
        ("dlq.failed_at", datetime.now(UTC).isoformat().encode()),
    ]


class DeadLetterWriter:
    """Writes a record to a DLQ with its original key, bytes and headers, plus where from and why."""

    def __init__(self, producer: EventProducer, service: str, stopping: asyncio.Event) -> None:
        self._producer, self._service, self._stopping = producer, service, stopping

    async def write(self, record: ConsumerRecord, dlq: str, error: str, cause: DlqCause) -> bool:
        """Retries while the broker is away; False only when stop() interrupted that (nothing written)."""
        backoff = Backoff(first=0.5, cap=10.0)
        headers = dlq_headers(record, error, cause, service=self._service)
        while True:
            try:
                await self._producer.send_raw_many(dlq, [(record.key, record.value, headers)])
                break
            except BrokerUnavailable as exc:
                log.warning("kafka_dlq_write_failed", topic=dlq, error=str(exc))
                if self._stopping.is_set() or await pause(self._stopping, backoff.delay()):
                    return False
        metrics.KAFKA_DLQ.labels(self._service, record.topic, cause).inc()
        log.warning(
            "kafka_record_dead_lettered",
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            event_id=dict(record.headers or ()).get("event_id", b"").decode(errors="replace") or None,
            cause=cause,
            error=error,
        )
        return True
