"""An at-least-once consumer loop: decode, handle in batches, commit only after the effect is durable."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Literal

import structlog
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import CommitFailedError, KafkaError

from shared.contracts.codec import InvalidMessage, decode
from shared.contracts.registry import TopicSpec
from shared.kafka.backoff import Backoff, pause
from shared.kafka.dlq import DeadLetterWriter, DlqCause, DlqLimit, DlqLimitExceeded
from shared.kafka.events import ConsumedEvent, Handler, Item, PoisonEvent, Record
from shared.kafka.isolation import BatchRunner
from shared.kafka.producer import EventProducer
from shared.kafka.stalls import StallWatch
from shared.observability import metrics
from shared.settings import KafkaSettings

__all__ = ["ConsumedEvent", "EventConsumer", "Handler", "PoisonEvent", "State"]
log = structlog.get_logger(__name__)
State = Literal["starting", "running", "halted", "stopped"]
Batches = dict[TopicPartition, list[Record]]


class EventConsumer:
    """Consumes `topics` as `group_id` and hands valid events to `handler` in batches.

    Guarantees: offsets are committed only after the handler returned (its effect must be durable by
    then), so every record is handled at least once; handlers must be idempotent on `event_id`.
    Invalid records go to the topic's DLQ with their original bytes. Handler failures are classified
    (shared.kafka.failures): transient ones are retried with backoff for as long as they last; an event
    that fails deterministically, or keeps failing in an unknown way, is isolated by splitting its batch
    and dead-lettered with the error while the rest is applied (shared.kafka.isolation), so no single
    record can stop a partition. A partition with records to process and no progress for
    `settings.stall_after_s` is reported by `stalled()` and the `kafka_consumer_stalled` gauge.
    `stop()` drains the batch in hand, commits and closes within its timeout.
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
        self._suffix, self._settings, self._max_batch = settings.topic_suffix, settings, max_batch
        self._limit = dlq_limit or DlqLimit()
        self._stopping = asyncio.Event()
        self._dead_letters = DeadLetterWriter(producer, service, self._stopping)
        self._runner = BatchRunner(
            service=service,
            group=group_id,
            handler=handler,
            dead_letter=self._dead_letter_item,
            limit=self._limit,
            stopping=self._stopping,
            unknown_attempts=settings.unknown_error_attempts,
        )
        self._stalls = StallWatch(service, group_id, settings.stall_after_s)
        self._consumer: AIOKafkaConsumer | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self.state: State = "starting"
        self.halt_reason: str | None = None

    async def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._run(), name=f"{self.group_id}-consumer"),
            asyncio.create_task(self._watch(), name=f"{self.group_id}-stall-watch"),
        ]

    async def stop(self, timeout: float = 15.0) -> None:
        """Finish the batch in hand, commit and close; cancel if that takes longer than timeout."""
        self._stopping.set()
        if not self._tasks:
            return
        try:
            await asyncio.wait_for(asyncio.shield(asyncio.gather(*self._tasks)), timeout)
        except TimeoutError:
            log.error("consumer_stop_timeout", group=self.group_id, timeout_s=timeout)
            for task in self._tasks:
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)

    def stalled(self) -> list[TopicPartition]:
        """The partitions that have had records to process for longer than `stall_after_s` without
        progress (a handler failing transiently, a batch that never finishes); empty unless running."""
        consumer = self._consumer
        if consumer is None or self.state != "running":
            return []
        return self._stalls.stalled(consumer.highwater)

    async def _watch(self) -> None:
        """Keeps `kafka_consumer_stalled` current, whatever the loop is blocked on."""
        interval = min(self._settings.stall_after_s / 4, 5.0)
        while not await pause(self._stopping, interval):
            if self._consumer is not None and self.state == "running":
                self._stalls.publish(self._consumer.highwater)
            else:
                self._stalls.clear()
        self._stalls.clear()

    async def _connect(self) -> AIOKafkaConsumer | None:
        backoff = Backoff(first=0.5, cap=10.0)
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
                await pause(self._stopping, backoff.delay())
        return None

    async def _run(self) -> None:
        consumer = self._consumer = await self._connect()
        if consumer is None:
            self.state = "stopped"
            return
        self.state = "running"
        log.info("kafka_consumer_started", group=self.group_id, topics=list(self._specs))
        try:
            while not self._stopping.is_set():
                batches = await consumer.getmany(timeout_ms=500, max_records=self._max_batch)
                self._stalls.polled(consumer.assignment(), batches)
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

    async def _process(self, consumer: AIOKafkaConsumer, batches: Batches) -> None:
        valid, offsets, halted = await self._decode(batches)
        if offsets is None:
            return  # stopping while the DLQ was unreachable: nothing committed, all redelivered
        unresolved, halt = await self._runner.run(valid) if valid else ([], None)
        for event, _ in unresolved:  # committed up to the first of them, redelivered from there
            tp = TopicPartition(event.topic, event.partition)
            offsets[tp] = min(offsets[tp], event.offset)
        await self._commit(consumer, offsets)
        self._stalls.committed(offsets)
        for tp, records in batches.items():
            done = offsets.get(tp, 0)
            metrics.KAFKA_CONSUMED.labels(self.service, tp.topic).inc(sum(r.offset < done for r in records))
            highwater = consumer.highwater(tp)
            if highwater is not None and tp in offsets:
                metrics.KAFKA_LAG.labels(self.service, self.group_id, tp.topic, tp.partition).set(
                    max(highwater - offsets[tp], 0)
                )
        if (breach := halted or halt) is not None:
            raise breach

    async def _decode(
        self, batches: Batches
    ) -> tuple[list[Item], dict[TopicPartition, int] | None, DlqLimitExceeded | None]:
        """The batch's valid events, and the offsets to commit once they are handled; invalid records
        are dead-lettered. Stops early at a DLQ limit breach (returned), or with no offsets at all when
        stop() interrupted a DLQ write."""
        valid: list[Item] = []
        offsets: dict[TopicPartition, int] = {}
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
                    except DlqLimitExceeded as halt:
                        return valid, offsets, halt
                    if not await self._dead_letter(spec, record, str(exc), "invalid"):
                        return valid, None, None
                offsets[tp] = record.offset + 1
        return valid, offsets, None

    async def _dead_letter_item(self, item: Item, error: str, cause: DlqCause) -> bool:
        event, record = item
        return await self._dead_letter(self._specs[event.topic], record, error, cause)

    async def _dead_letter(self, spec: TopicSpec, record: Record, error: str, cause: DlqCause) -> bool:
        """Write the original record to the DLQ, retrying while the broker is away; False if stopping."""
        return await self._dead_letters.write(record, spec.dlq + self._suffix, error, cause)

    async def _commit(self, consumer: AIOKafkaConsumer, offsets: dict[TopicPartition, int]) -> None:
        if not offsets:
            return
        try:
            await consumer.commit(offsets)
        except (CommitFailedError, KafkaError) as exc:
            # The group rebalanced: the new owner re-handles these records; handlers are idempotent.
            log.warning("kafka_commit_failed", group=self.group_id, error=repr(exc))
