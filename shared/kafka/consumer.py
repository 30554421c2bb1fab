"""An at-least-once consumer loop: decode, handle in batches, commit only after the effect is durable."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Literal, TypeAlias

import structlog
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import CommitFailedError, KafkaError
from aiokafka.structs import ConsumerRecord
from pydantic import BaseModel

from shared.contracts.codec import InvalidMessage, decode
from shared.contracts.envelope import Envelope
from shared.contracts.registry import TopicSpec
from shared.kafka.dlq import DlqLimit, DlqLimitExceeded, dlq_headers
from shared.kafka.producer import BrokerUnavailable, EventProducer
from shared.observability import metrics
from shared.settings import KafkaSettings

log = structlog.get_logger(__name__)
Record: TypeAlias = ConsumerRecord  # aiokafka is untyped: ConsumerRecord[bytes, bytes] at run time
State = Literal["starting", "running", "halted", "stopped"]


@dataclass(frozen=True)
class ConsumedEvent:
    envelope: Envelope[BaseModel]
    topic: str
    partition: int
    offset: int


Handler = Callable[[list[ConsumedEvent]], Awaitable[None]]


class PoisonEvent(Exception):
    """Raised by a handler for one event that can never succeed: it goes to the DLQ, the rest is retried."""

    def __init__(self, event: ConsumedEvent, reason: str) -> None:
        super().__init__(reason)
        self.event = event


class EventConsumer:
    """Consumes `topics` as `group_id` and hands valid events to `handler` in batches.

    Guarantees: offsets are committed only after the handler returned (its effect must be durable by
    then), so every record is handled at least once; handlers must be idempotent on `event_id`.
    Transient handler errors are retried with backoff; invalid records go to the topic's DLQ with
    their original bytes. `stop()` drains the batch in hand, commits and closes within its timeout.
    """

    def __init__(
        self,
        *,
        service: str,
        group_id: str,
        topics: Sequence[TopicSpec],
        handler: Handler,
        producer: EventProducer,
        settings: KafkaSettings,
        max_batch: int = 500,
        dlq_limit: DlqLimit | None = None,
    ) -> None:
        self.service, self.group_id = service, group_id
        self._specs = {spec.name + settings.topic_suffix: spec for spec in topics}
        self._suffix = settings.topic_suffix
        self._handler, self._producer, self._settings = handler, producer, settings
        self._max_batch = max_batch
        self._limit = dlq_limit or DlqLimit()
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.state: State = "starting"
        self.halt_reason: str | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"{self.group_id}-consumer")

    async def stop(self, timeout: float = 15.0) -> None:
        """Finish the batch in hand, commit and close; cancel if that takes longer than timeout."""
        self._stopping.set()
        if self._task is None:
            return
        try:
            await asyncio.wait_for(asyncio.shield(self._task), timeout)
        except TimeoutError:
            log.error("consumer_stop_timeout", group=self.group_id, timeout_s=timeout)
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _connect(self) -> AIOKafkaConsumer | None:
        delay = 0.5
        while not self._stopping.is_set():
            consumer = AIOKafkaConsumer(
                *self._specs,
                bootstrap_servers=self._settings.bootstrap_servers,
                group_id=self.group_id,
                client_id=f"{self._settings.client_id_prefix}-{self.service}",
                enable_auto_commit=False,
                auto_offset_reset="earliest",
                max_poll_interval_ms=300_000,
            )
            try:
                await consumer.start()
                return consumer
            except (KafkaError, OSError) as exc:
                await consumer.stop()
                log.warning("kafka_consumer_connect_failed", group=self.group_id, error=str(exc))
                await self._sleep(delay)
                delay = min(delay * 2, 10.0)
        return None

    async def _sleep(self, seconds: float) -> None:
        """Sleep, waking early when stop() is called."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)

    async def _run(self) -> None:
        consumer = await self._connect()
        if consumer is None:
            self.state = "stopped"
            return
        self.state = "running"
        log.info("kafka_consumer_started", group=self.group_id, topics=list(self._specs))
        try:
            while not self._stopping.is_set():
                batches = await consumer.getmany(timeout_ms=500, max_records=self._max_batch)
                if batches:
                    await self._process(consumer, batches)
        except DlqLimitExceeded as exc:
            self.state, self.halt_reason = "halted", str(exc)
            metrics.KAFKA_CONSUMER_HALTED.labels(self.service, self.group_id).set(1)
            log.error("kafka_consumer_halted", group=self.group_id, reason=str(exc))
        finally:
            await consumer.stop()
            if self.state != "halted":
                self.state = "stopped"

    async def _process(self, consumer: AIOKafkaConsumer, batches: dict[TopicPartition, list[Record]]) -> None:
        valid: list[tuple[ConsumedEvent, Record]] = []
        offsets: dict[TopicPartition, int] = {}
        halted: DlqLimitExceeded | None = None
        for tp, records in batches.items():
            spec = self._specs[tp.topic]
            for record in records:
                try:
                    envelope = decode(spec, record.value)
                    self._limit.record(invalid=False)
                    valid.append((ConsumedEvent(envelope, tp.topic, tp.partition, record.offset), record))
                except InvalidMessage as exc:
                    try:
                        self._limit.record(invalid=True)
                    except DlqLimitExceeded as limit:
                        halted = limit
                        break
                    if not await self._dead_letter(spec, record, str(exc)):
                        return
                offsets[tp] = record.offset + 1
            if halted:
                break
        if valid and not await self._handle(valid):
            return  # stopping while the handler kept failing: nothing committed, all redelivered
        await self._commit(consumer, offsets)
        for tp, records in batches.items():
            metrics.KAFKA_CONSUMED.labels(self.service, tp.topic).inc(len(records))
            highwater = consumer.highwater(tp)
            if highwater is not None and tp in offsets:
                metrics.KAFKA_LAG.labels(self.service, self.group_id, tp.topic, tp.partition).set(
                    max(highwater - offsets[tp], 0)
                )
        if halted:
            raise halted

    async def _handle(self, batch: list[tuple[ConsumedEvent, Record]]) -> bool:
        """Run the handler until it succeeds; False if stop() interrupted the retries."""
        delay = 0.2
        while batch:
            started = time.perf_counter()
            events = [event for event, _ in batch]
            try:
                # Log lines written by the handler carry the event id (or the batch's first ids).
                with structlog.contextvars.bound_contextvars(
                    event_id=str(events[0].envelope.event_id) if len(events) == 1 else None,
                    event_ids=[str(e.envelope.event_id) for e in events[:5]] if len(events) > 1 else None,
                    batch_size=len(events),
                ):
                    await self._handler(events)
            except PoisonEvent as poison:
                record = next(r for e, r in batch if e is poison.event)
                if not await self._dead_letter(self._specs[poison.event.topic], record, str(poison)):
                    return False
                batch = [(e, r) for e, r in batch if e is not poison.event]
                continue
            except Exception as exc:
                metrics.KAFKA_HANDLER_RETRIES.labels(self.service, self.group_id).inc()
                log.warning(
                    "kafka_handler_failed",
                    group=self.group_id,
                    error=repr(exc),
                    retry_in_s=delay,
                    event_ids=[str(e.envelope.event_id) for e in events[:5]],
                    batch_size=len(events),
                )
                if self._stopping.is_set():
                    return False
                await self._sleep(delay)
                delay = min(delay * 2, 30.0)
                continue
            metrics.KAFKA_HANDLER_LATENCY.labels(self.service, self.group_id).observe(
                time.perf_counter() - started
            )
            return True
        return True

    async def _dead_letter(self, spec: TopicSpec, record: Record, error: str) -> bool:
        """Write the original record to the DLQ, retrying while the broker is away; False if stopping."""
        delay = 0.5
        dlq = spec.dlq + self._suffix
        while True:
            try:
                await self._producer.send_raw_many(
                    dlq, [(record.key, record.value, dlq_headers(record, error))]
                )
            except BrokerUnavailable as exc:
                log.warning("kafka_dlq_write_failed", topic=dlq, error=str(exc))
                if self._stopping.is_set():
                    return False
                await self._sleep(delay)
                delay = min(delay * 2, 10.0)
                continue
            metrics.KAFKA_DLQ.labels(self.service, record.topic).inc()
            log.warning(
                "kafka_record_dead_lettered",
                topic=record.topic,
                partition=record.partition,
                offset=record.offset,
                event_id=dict(record.headers or ()).get("event_id", b"").decode(errors="replace") or None,
                error=error,
            )
            return True

    async def _commit(self, consumer: AIOKafkaConsumer, offsets: dict[TopicPartition, int]) -> None:
        if not offsets:
            return
        try:
            await consumer.commit(offsets)
        except (CommitFailedError, KafkaError) as exc:
            # The group rebalanced: the new owner re-handles these records; handlers are idempotent.
            log.warning("kafka_commit_failed", group=self.group_id, error=repr(exc))
