"""The consumer loop on the real broker: at-least-once, DLQ with original bytes, retries, halting, drain."""

from __future__ import annotations

import asyncio
import uuid

import pytest
import structlog

from shared.contracts.codec import MAX_MESSAGE_BYTES
from shared.contracts.registry import FEEDBACK_RECEIVED
from shared.kafka import DlqLimit, EventConsumer, EventProducer
from shared.kafka.consumer import ConsumedEvent, PoisonEvent
from shared.settings import KafkaSettings
from tests.conftest import read_all, spec_topic
from tests.integration.helpers import eventually, feedback_received, to_bytes

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


async def publish(producer: EventProducer, settings: KafkaSettings, docs: list[dict]) -> None:
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
    await asyncio.sleep(1.0)
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

    dead = await read_all(
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
    dead = await read_all(
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
    dead = await read_all(
        kafka_settings.bootstrap_servers,
        FEEDBACK_RECEIVED.dlq + kafka_settings.topic_suffix,
        4,
        timeout_s=5,
    )
    assert len(dead) == 3  # dead-lettered up to the limit, then stopped instead of draining into the DLQ


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
    contexts: list[dict] = []

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
    dead = await read_all(
        kafka_settings.bootstrap_servers, FEEDBACK_RECEIVED.dlq + kafka_settings.topic_suffix, 3
    )
    assert [r.value for r in dead] == bad
    errors = [dict(r.headers)["dlq.error"] for r in dead]
    assert b"exceeds" in errors[0]
    assert b"version 2" in errors[1]
    assert b"unknown event 'feedback.teleported'" in errors[2]
