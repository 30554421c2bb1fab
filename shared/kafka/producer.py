"""A producer that only reports success once the broker has acknowledged the write (acks=all)."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Sequence

import structlog
from aiokafka import AIOKafkaProducer
from aiokafka.errors import (
    InvalidProducerEpoch,
    KafkaError,
    MessageSizeTooLargeError,
    OutOfOrderSequenceNumber,
    ProducerFenced,
    UnknownProducerId,
)
from aiokafka.partitioner import DefaultPartitioner
from aiokafka.producer.message_accumulator import BatchBuilder
from pydantic import BaseModel

from shared.contracts.envelope import Envelope
from shared.observability.metrics import KAFKA_PRODUCE_FAILURES, KAFKA_PRODUCED
from shared.settings import KafkaSettings

log = structlog.get_logger(__name__)
SESSION_LOST = (OutOfOrderSequenceNumber, UnknownProducerId, InvalidProducerEpoch, ProducerFenced)
"""Errors after which an idempotent producer's session is unusable (seen after a broker restart under
load: every later send fails with OutOfOrderSequenceNumber): the producer is replaced by a new one."""


BATCH_THRESHOLD = 32
"""From this many records on, `send_raw_many` builds partition batches itself."""


class BrokerUnavailable(Exception):
    """The broker did not acknowledge in time; the caller must not report success (HTTP 503)."""


class EventProducer:
    """Idempotent, batching, compressing producer.

    `start()` never blocks on the broker: it connects in the background with backoff, so a service
    starts (and answers /healthz) while Kafka is down, and publishes raise BrokerUnavailable until then.
    """

    def __init__(self, settings: KafkaSettings, service: str) -> None:
        self._settings = settings
        self._service = service
        self._producer: AIOKafkaProducer | None = None
        self._connector: asyncio.Task[None] | None = None
        self._retired: set[asyncio.Task[None]] = set()
        self._partitioner = DefaultPartitioner()  # the producers' own: same key, same partition
        self._partition_of: dict[tuple[str, int], dict[bytes, int]] = {}
        self._handing: defaultdict[tuple[str, int], asyncio.Lock] = defaultdict(asyncio.Lock)
        """Per partition: held while one caller hands a batch to aiokafka (see `_hand_over`)."""

    def _new_producer(self) -> AIOKafkaProducer:
        # aiokafka's codecs come from the cramjam package.
        compression = None if self._settings.compression == "none" else self._settings.compression
        return AIOKafkaProducer(
            bootstrap_servers=self._settings.bootstrap_servers,
            client_id=f"{self._settings.client_id_prefix}-{self._service}",
            acks="all",
            enable_idempotence=True,
            linger_ms=self._settings.linger_ms,
            compression_type=compression,
            max_batch_size=256 * 1024,
            request_timeout_ms=int(self._settings.publish_timeout_s * 1000),
        )

    async def start(self) -> None:
        self._connector = asyncio.create_task(self._connect(), name=f"{self._service}-producer-connect")

    async def _connect(self) -> None:
        delay = 0.5
        while True:
            producer = self._new_producer()
            try:
                await producer.start()
            except Exception as exc:  # any start failure is retried; the service must stay up
                await producer.stop()
                log.warning("kafka_producer_connect_failed", error=str(exc), retry_in_s=delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)
                continue
            self._producer = producer
            log.info("kafka_producer_connected")
            return

    @property
    def connected(self) -> bool:
        return self._producer is not None

    async def wait_connected(self, timeout: float) -> None:
        if self._connector is not None:
            await asyncio.wait_for(asyncio.shield(self._connector), timeout)

    async def broker_reachable(self, timeout: float = 2.0) -> bool:
        """True when the broker answers a metadata request now."""
        if self._producer is None:
            return False
        try:
            async with asyncio.timeout(timeout):
                await self._producer.client.fetch_all_metadata()
        except (KafkaError, OSError, TimeoutError):
            return False
        return True

    async def publish(self, topic: str, envelope: Envelope[BaseModel]) -> None:
        await self.publish_many(topic, [envelope])

    async def publish_many(self, topic: str, envelopes: Sequence[Envelope[BaseModel]]) -> None:
        """Publish all envelopes and return once every one is acknowledged, else raise BrokerUnavailable.

        On failure some envelopes may have been written: callers retry with the same event ids and
        consumers deduplicate on event_id.
        """
        await self.send_raw_many(topic, [(e.key.encode(), e.to_bytes(), e.headers()) for e in envelopes])

    async def send_raw_many(
        self,
        topic: str,
        records: Sequence[tuple[bytes | None, bytes | None, list[tuple[str, bytes]]]],
        *,
        as_batches: bool | None = None,
    ) -> None:
        """Send and wait for every acknowledgement. `as_batches`: build closed record batches per
        partition (sent without lingering) instead of one `send` per record; by default from
        BATCH_THRESHOLD records on."""
        producer = self._producer
        if producer is None:
            KAFKA_PRODUCE_FAILURES.labels(self._service, topic).inc(len(records))
            raise BrokerUnavailable("not connected to Kafka yet")
        try:
            async with asyncio.timeout(self._settings.publish_timeout_s):
                if not (as_batches if as_batches is not None else len(records) >= BATCH_THRESHOLD):
                    futures = [
                        await producer.send(topic, value=value, key=key, headers=headers)
                        for key, value, headers in records
                    ]
                else:
                    futures = await self._send_batches(producer, topic, records)
                await asyncio.gather(*futures)
        except (KafkaError, OSError, TimeoutError) as exc:
            KAFKA_PRODUCE_FAILURES.labels(self._service, topic).inc(len(records))
            if isinstance(exc, SESSION_LOST) and self._producer is producer:
                self._replace(producer, exc)
            raise BrokerUnavailable(f"Kafka did not acknowledge the write to {topic}: {exc!r}") from exc
        KAFKA_PRODUCED.labels(self._service, topic).inc(len(records))

    async def _send_batches(
        self,
        producer: AIOKafkaProducer,
        topic: str,
        records: Sequence[tuple[bytes | None, bytes | None, list[tuple[str, bytes]]]],
    ) -> list[asyncio.Future[object]]:
        """Many records as one record batch per partition (aiokafka's batch API), each record in the
        partition `send` would choose for its key. Per record this costs a fraction of `send`, which
        resolves metadata, partitions and creates a future for every message. Sequence numbers for
        idempotence are assigned when batches are drained, as for `send`."""
        partitions = sorted(await producer.partitions_for(topic))
        # murmur2 is pure Python (slow per key); customers recur, so partitions are remembered.
        known = self._partition_of.setdefault((topic, len(partitions)), {})
        if len(known) > 100_000:
            known.clear()
        builders: dict[int, BatchBuilder] = {}
        futures: list[asyncio.Future[object]] = []
        for key, value, headers in records:
            partition = known.get(key) if key is not None else None
            if partition is None:
                partition = self._partitioner(key, partitions, partitions)
                if key is not None:
                    known[key] = partition
            builder = builders.get(partition)
            if builder is None:
                builder = builders[partition] = producer.create_batch()
            if builder.append(timestamp=None, key=key, value=value, headers=headers) is None:
                futures.append(await self._hand_over(producer, builder, topic, partition))
                builder = builders[partition] = producer.create_batch()
                if builder.append(timestamp=None, key=key, value=value, headers=headers) is None:
                    size = len(value or b"")
                    raise MessageSizeTooLargeError(f"a record of {size} bytes does not fit in a batch")
        for partition, builder in builders.items():
            builder.close()  # complete: no reason to linger
            futures.append(await self._hand_over(producer, builder, topic, partition))
        return futures

    async def _hand_over(
        self, producer: AIOKafkaProducer, builder: BatchBuilder, topic: str, partition: int
    ) -> asyncio.Future[object]:
        """`send_batch`, one caller at a time per partition. aiokafka (0.14) waits there for the
        partition's previous batch to drain, but its `add_batch` deducts the time since its first wait
        on every further wait: a caller that other callers beat to a partition a few dozen times failed
        with KafkaTimeoutError within half a second (4 coroutines sending 1,000-record batches to 6
        partitions). Queued here, each caller's wait is for a single drain."""
        async with self._handing[(topic, partition)]:
            future: asyncio.Future[object] = await producer.send_batch(builder, topic, partition=partition)
        return future

    def _replace(self, broken: AIOKafkaProducer, error: Exception) -> None:
        """Drops a producer whose idempotence session is lost and connects a new one in the background;
        sends fail with BrokerUnavailable (and are retried by callers) until it is connected."""
        log.warning("kafka_producer_replaced", error=repr(error))
        self._producer = None
        self._retired.add(asyncio.create_task(broken.stop()))
        self._retired = {t for t in self._retired if not t.done()}
        self._connector = asyncio.create_task(self._connect(), name=f"{self._service}-producer-reconnect")

    async def stop(self) -> None:
        await asyncio.gather(*self._retired, return_exceptions=True)
        if self._connector is not None and not self._connector.done():
            self._connector.cancel()
            await asyncio.gather(self._connector, return_exceptions=True)
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None
