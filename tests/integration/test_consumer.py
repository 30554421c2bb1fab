"""The consumer loop on the real broker: at-least-once, DLQ with original bytes, retries, halting, drain."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
import structlog
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from prometheus_client import REGISTRY
from sqlalchemy import text

from shared.contracts.codec import MAX_MESSAGE_BYTES
from shared.contracts.registry import FEEDBACK_RECEIVED
from shared.kafka import DlqLimit, EventConsumer, EventProducer
from shared.kafka.consumer import ConsumedEvent, PoisonEvent
from shared.settings import KafkaSettings
from tests.conftest import spec_topic
from tests.integration.helpers import eventually, feedback_received, to_bytes
from tests.support.kafka import read_exactly, wait_caught_up

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("topics")]


def consumer_for(
    settings: KafkaSettings, producer: EventProducer, handler, group: str | None = None, **kwargs
) -> EventConsumer:
    return EventConsumer(
        service="tests",
        group_id=group or f"g-{uuid.uuid4().hex[:8]}",
        topics=[FEEDBACK_RECEIVED],
        handler=handler,
        producer=producer,
        settings=settings,
        **kwargs,
    )


async def publish(producer: EventProducer, settings: KafkaSettings, docs: list[dict[str, Any]]) -> None:
    await producer.send_raw_many(
        spec_topic(FEEDBACK_RECEIVED, settings),
        [(d["key"].encode(), to_bytes(d), []) for d in docs],
    )


async def test_valid_events_are_handled_once_and_committed(kafka_settings, producer):
    docs = [feedback_received(f"C{i}") for i in range(50)]
    await publish(producer, kafka_settings, docs)
    seen: list[str] = []

    async def handle(events: list[ConsumedEvent]) -> None:
        seen.extend(str(e.envelope.event_id) for e in events)

    group = f"g-{uuid.uuid4().hex[:8]}"
    consumer = consumer_for(kafka_settings, producer, handle, group)
    await consumer.start()
    await eventually(lambda: len(seen) >= 50, what="50 events handled")
    await consumer.stop()
    assert sorted(seen) == sorted(d["event_id"] for d in docs)

    # A new consumer in the same group starts after the committed offsets: nothing is handled again.
    again: list[str] = []

    async def handle_again(events: list[ConsumedEvent]) -> None:
        again.extend(str(e.envelope.event_id) for e in events)

    extra = feedback_received("C-late")
    await publish(producer, kafka_settings, [extra])
    consumer = consumer_for(kafka_settings, producer, handle_again, group)
    await consumer.start()
    await eventually(lambda: len(again) >= 1, what="the late event")
    topic = spec_topic(FEEDBACK_RECEIVED, kafka_settings)
    await wait_caught_up(kafka_settings.bootstrap_servers, group, [topic])
    await consumer.stop()
    assert again == [extra["event_id"]]


async def test_invalid_record_goes_to_dlq_with_original_bytes_and_consumption_goes_on(
    kafka_settings, producer
):
    bad = feedback_received("C-bad")
    bad["payload"]["csat"] = 42
    garbage = b"\x00\x01 definitely not json"
    good = feedback_received("C-good")
    topic = spec_topic(FEEDBACK_RECEIVED, kafka_settings)
    # One partition key so the order bad, garbage, good is kept.
    await producer.send_raw_many(
        topic,
        [
            (b"same", to_bytes(bad), [("trace", b"abc")]),
            (b"same", garbage, []),
            (b"same", to_bytes(good), []),
        ],
    )
    seen: list[str] = []

    async def handle(events: list[ConsumedEvent]) -> None:
        seen.extend(str(e.envelope.event_id) for e in events)

    consumer = consumer_for(kafka_settings, producer, handle)
    await consumer.start()
    await eventually(lambda: seen == [good["event_id"]], what="the good event after two bad ones")
    await consumer.stop()

    dead = await read_exactly(
        kafka_settings.bootstrap_servers, FEEDBACK_RECEIVED.dlq + kafka_settings.topic_suffix, 2
    )
    assert [r.value for r in dead] == [to_bytes(bad), garbage]
    headers = dict(dead[0].headers)
    assert headers["trace"] == b"abc"
    assert headers["dlq.original.topic"] == topic.encode()
    assert headers["dlq.original.offset"] == b"0"
    assert b"payload.csat" in headers["dlq.error"]
    assert dict(dead[1].headers)["dlq.original.offset"] == b"1"
    assert b"not JSON" in dict(dead[1].headers)["dlq.error"]


async def test_transient_handler_errors_are_retried_until_the_effect_succeeds(kafka_settings, producer):
    docs = [feedback_received("C1") for _ in range(5)]
    await publish(producer, kafka_settings, docs)
    attempts = 0
    applied: set[str] = set()

    async def flaky(events: list[ConsumedEvent]) -> None:
        nonlocal attempts
        attempts += 1
        if attempts <= 2:
            raise ConnectionError("database blip")
        applied.update(str(e.envelope.event_id) for e in events)

    consumer = consumer_for(kafka_settings, producer, flaky)
    await consumer.start()
    await eventually(lambda: len(applied) == 5, what="all events applied after retries")
    await consumer.stop()
    assert attempts >= 3
    assert applied == {d["event_id"] for d in docs}


async def test_poison_event_from_the_handler_is_dead_lettered_and_the_rest_applied(kafka_settings, producer):
    poison, fine = feedback_received("C1", text="poison"), feedback_received("C1", text="fine")
    await publish(producer, kafka_settings, [poison, fine])
    applied: list[str] = []

    async def handle(events: list[ConsumedEvent]) -> None:
        for event in events:
            if event.envelope.payload.text == "poison":  # type: ignore[attr-defined]
                raise PoisonEvent(event, "cannot ever apply this")
        applied.extend(str(e.envelope.event_id) for e in events)

    consumer = consumer_for(kafka_settings, producer, handle)
    await consumer.start()
    await eventually(lambda: applied == [fine["event_id"]], what="the fine event")
    await consumer.stop()
    dead = await read_exactly(
        kafka_settings.bootstrap_servers, FEEDBACK_RECEIVED.dlq + kafka_settings.topic_suffix, 1
    )
    assert [r.value for r in dead] == [to_bytes(poison)]


async def test_consumer_halts_when_invalid_messages_look_systematic(kafka_settings, producer):
    topic = spec_topic(FEEDBACK_RECEIVED, kafka_settings)
    await producer.send_raw_many(topic, [(b"k", b"broken deploy", []) for _ in range(10)])

    async def handle(events: list[ConsumedEvent]) -> None:
        raise AssertionError("no valid event was sent")

    consumer = consumer_for(kafka_settings, producer, handle, dlq_limit=DlqLimit(max_consecutive_count=3))
    await consumer.start()
    await eventually(lambda: consumer.state == "halted", what="halt")
    assert "consecutive invalid" in (consumer.halt_reason or "")
    await consumer.stop()
    # Dead-lettered up to the limit, then stopped instead of draining into the DLQ.
    await read_exactly(
        kafka_settings.bootstrap_servers, FEEDBACK_RECEIVED.dlq + kafka_settings.topic_suffix, 3
    )


async def test_stop_mid_batch_then_restart_loses_and_skips_nothing(kafka_settings, producer):
    docs = [feedback_received(f"C{i % 7}") for i in range(300)]
    await publish(producer, kafka_settings, docs)
    applied: set[str] = set()
    group = f"g-{uuid.uuid4().hex[:8]}"

    async def slow(events: list[ConsumedEvent]) -> None:
        await asyncio.sleep(0.3)
        applied.update(str(e.envelope.event_id) for e in events)

    consumer = consumer_for(kafka_settings, producer, slow, group, max_batch=20)
    await consumer.start()
    await eventually(lambda: len(applied) >= 20, what="first batches")
    await consumer.stop()
    first_run = len(applied)
    assert first_run < 300, "stopped before the end, so the restart has work to do"

    consumer = consumer_for(kafka_settings, producer, slow, group, max_batch=100)
    await consumer.start()
    await eventually(lambda: len(applied) == 300, what="all 300 events after restart")
    await consumer.stop()
    assert applied == {d["event_id"] for d in docs}


async def test_handler_log_context_carries_the_event_id(kafka_settings, producer):
    doc = feedback_received("C-log")
    await publish(producer, kafka_settings, [doc])
    contexts: list[dict[str, Any]] = []

    async def handle(events: list[ConsumedEvent]) -> None:
        contexts.append(structlog.contextvars.get_contextvars())

    consumer = consumer_for(kafka_settings, producer, handle)
    await consumer.start()
    await eventually(lambda: bool(contexts), what="the event handled")
    await consumer.stop()
    assert contexts[0]["event_id"] == doc["event_id"]
    assert contexts[0]["batch_size"] == 1


async def test_oversized_and_wrongly_versioned_records_go_to_dlq_with_original_bytes(
    kafka_settings, producer
):
    oversized = feedback_received("C-big")
    oversized["payload"]["metadata"] = {"blob": "x" * (MAX_MESSAGE_BYTES + 10)}
    future = feedback_received("C-v2") | {"version": 2}
    unknown = feedback_received("C-type") | {"type": "feedback.teleported"}
    good = feedback_received("C-good")
    bad = [to_bytes(oversized), to_bytes(future), to_bytes(unknown)]
    await producer.send_raw_many(
        spec_topic(FEEDBACK_RECEIVED, kafka_settings),
        [(b"same", value, []) for value in [*bad, to_bytes(good)]],
    )
    seen: list[str] = []

    async def handle(events: list[ConsumedEvent]) -> None:
        seen.extend(str(e.envelope.event_id) for e in events)

    consumer = consumer_for(kafka_settings, producer, handle)
    await consumer.start()
    await eventually(lambda: seen == [good["event_id"]], what="the good event after three bad ones")
    await consumer.stop()
    dead = await read_exactly(
        kafka_settings.bootstrap_servers, FEEDBACK_RECEIVED.dlq + kafka_settings.topic_suffix, 3
    )
    assert [r.value for r in dead] == bad
    errors = [dict(r.headers)["dlq.error"] for r in dead]
    assert b"exceeds" in errors[0]
    assert b"version 2" in errors[1]
    assert b"unknown event 'feedback.teleported'" in errors[2]


async def dlq_size(settings: KafkaSettings) -> int:
    """How many records the feedback DLQ holds (its end offsets): read once every write is acknowledged."""
    dlq = FEEDBACK_RECEIVED.dlq + settings.topic_suffix
    return sum((await end_offsets(settings, dlq, FEEDBACK_RECEIVED.dlq_partitions)).values())


async def end_offsets(settings: KafkaSettings, topic: str, count: int) -> dict[int, int]:
    """The end offset of each of the `count` partitions of `topic`."""
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.bootstrap_servers, group_id=None)
    await consumer.start()
    try:
        partitions = [TopicPartition(topic, p) for p in range(count)]
        return {tp.partition: offset for tp, offset in (await consumer.end_offsets(partitions)).items()}
    finally:
        await consumer.stop()


async def committed_offsets(settings: KafkaSettings, group: str) -> dict[int, int]:
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.bootstrap_servers)
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(group)
    finally:
        await admin.close()
    return {tp.partition: meta.offset for tp, meta in offsets.items()}


async def everything_committed(settings: KafkaSettings, group: str) -> bool:
    topic = spec_topic(FEEDBACK_RECEIVED, settings)
    ends = await end_offsets(settings, topic, FEEDBACK_RECEIVED.partitions)
    committed = await committed_offsets(settings, group)
    return all(committed.get(p) == end for p, end in ends.items() if end > 0)


def spread(count: int) -> list[dict[str, Any]]:
    """Events of nine customers, so over several partitions."""
    return [feedback_received(f"C{i % 9}") for i in range(count)]


async def test_an_event_its_handler_cannot_apply_goes_to_the_dlq_and_the_rest_of_its_batch_is_applied(
    kafka_settings, producer
):
    docs = spread(40)
    bad = docs[17]
    await publish(producer, kafka_settings, docs)
    applied: list[str] = []

    async def handle(events: list[ConsumedEvent]) -> None:  # all or nothing, like one transaction
        if any(str(e.envelope.event_id) == bad["event_id"] for e in events):
            raise OverflowError("points 3000000000 out of int32 range")
        applied.extend(str(e.envelope.event_id) for e in events)

    group = f"g-{uuid.uuid4().hex[:8]}"
    consumer = consumer_for(kafka_settings, producer, handle, group)
    await consumer.start()
    await eventually(lambda: len(applied) == 39, what="the 39 good events")
    await eventually(
        lambda: everything_committed(kafka_settings, group), what="offsets committed past the bad event"
    )
    await consumer.stop()

    assert sorted(applied) == sorted(d["event_id"] for d in docs if d is not bad)  # each once
    dead = await read_exactly(
        kafka_settings.bootstrap_servers, FEEDBACK_RECEIVED.dlq + kafka_settings.topic_suffix, 1
    )
    assert [r.value for r in dead] == [to_bytes(bad)]
    headers = dict(dead[0].headers)
    assert headers["dlq.cause"] == b"deterministic"
    assert (
        headers["dlq.error"]
        == b"handler failed (deterministic): OverflowError: points 3000000000 out of int32 range"
    )
    assert consumer.state == "stopped"


async def test_an_event_failing_in_an_unknown_way_is_isolated_tried_a_bounded_number_of_times_then_dlqd(
    kafka_settings, producer
):
    settings = kafka_settings.model_copy(update={"unknown_error_attempts": 3})
    docs = spread(30)
    bad = docs[5]
    await publish(producer, settings, docs)
    applied: list[str] = []
    alone: list[int] = []  # calls holding only the bad event

    async def handle(events: list[ConsumedEvent]) -> None:
        if any(str(e.envelope.event_id) == bad["event_id"] for e in events):
            if len(events) == 1:
                alone.append(1)
            raise RuntimeError("the rules engine said no")
        applied.extend(str(e.envelope.event_id) for e in events)

    consumer = consumer_for(settings, producer, handle)
    await consumer.start()
    await eventually(lambda: len(applied) == 29, what="the 29 good events")
    await consumer.stop()

    assert sorted(applied) == sorted(d["event_id"] for d in docs if d is not bad)
    assert len(alone) == 3
    dead = await read_exactly(settings.bootstrap_servers, FEEDBACK_RECEIVED.dlq + settings.topic_suffix, 1)
    assert [r.value for r in dead] == [to_bytes(bad)]
    assert dict(dead[0].headers)["dlq.cause"] == b"unknown"
    assert dict(dead[0].headers)["dlq.error"] == (
        b"handler failed (unknown, 3 attempts): RuntimeError: the rules engine said no"
    )


async def test_a_lost_database_connection_is_retried_not_split_and_never_dead_lettered(
    kafka_settings, producer, database
):
    # One unknown attempt would dead-letter at once: only the transient classification keeps these events.
    settings = kafka_settings.model_copy(update={"unknown_error_attempts": 1})
    docs = [feedback_received("C-same") for _ in range(5)]
    await publish(producer, settings, docs)
    sizes: list[int] = []
    applied: set[str] = set()

    async def handle(events: list[ConsumedEvent]) -> None:
        sizes.append(len(events))
        async with database.connection() as conn:
            if len(sizes) <= 3:  # the server ends this session, as a failover or restart would
                await conn.execute(text("SELECT pg_terminate_backend(pg_backend_pid())"))
        applied.update(str(e.envelope.event_id) for e in events)

    group = f"g-{uuid.uuid4().hex[:8]}"
    consumer = consumer_for(settings, producer, handle, group)
    await consumer.start()
    await eventually(lambda: len(applied) == 5, what="all events applied after the retries")
    await consumer.stop()

    assert applied == {d["event_id"] for d in docs}
    assert sizes[:4] == [sizes[0]] * 4, "the same events retried, never split"
    assert await dlq_size(settings) == 0
    failures = REGISTRY.get_sample_value(
        "kafka_handler_failures_total", {"service": "tests", "group": group, "kind": "transient"}
    )
    assert failures == 3


async def test_consumer_halts_when_its_handler_fails_on_every_event(kafka_settings, producer):
    await publish(producer, kafka_settings, [feedback_received("C-same") for _ in range(10)])

    async def handle(events: list[ConsumedEvent]) -> None:
        raise ValueError("a bad deploy: nothing applies")

    consumer = consumer_for(kafka_settings, producer, handle, dlq_limit=DlqLimit(max_consecutive_count=3))
    await consumer.start()
    await eventually(lambda: consumer.state == "halted", what="halt")
    assert consumer.halt_reason == "4 consecutive events failed in their handler"
    await consumer.stop()
    assert await dlq_size(kafka_settings) == 3  # dead-lettered up to the limit, then stopped
