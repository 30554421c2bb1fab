"""The DLQ replay command on the real broker: after a fix, the selected dead letters go back to their topic
with their original bytes and are consumed; a dry run sends nothing; the filter keeps the rest where it is."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import uuid

import pytest

from scripts.infra import ROOT
from shared.contracts.registry import FEEDBACK_RECEIVED
from shared.kafka.consumer import ConsumedEvent, PoisonEvent
from shared.kafka.replay import Selection, replay
from tests.conftest import spec_topic
from tests.integration.helpers import eventually, feedback_received, to_bytes
from tests.integration.test_consumer import consumer_for
from tests.support.kafka import read_exactly

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("topics")]


async def test_replay_after_a_fix_republishes_the_selected_dead_letters_and_they_are_consumed(
    kafka_settings, producer
):
    topic = spec_topic(FEEDBACK_RECEIVED, kafka_settings)
    dlq = FEEDBACK_RECEIVED.dlq + kafka_settings.topic_suffix
    unsupported, good = feedback_received("C1", text="表情 🙂 only"), feedback_received("C1", text="fine")
    await producer.send_raw_many(
        topic,
        [
            (b"C1", to_bytes(unsupported), [("trace", b"t-1")]),
            (b"C1", b"{not json", []),
            (b"C1", to_bytes(good), []),
        ],
    )
    group = f"g-{uuid.uuid4().hex[:8]}"
    handled: list[str] = []
    fixed = False

    async def handle(events: list[ConsumedEvent]) -> None:
        for event in events:
            if not fixed and "🙂" in event.envelope.payload.text:  # type: ignore[attr-defined]
                raise PoisonEvent(event, "unsupported emoji")
        handled.extend(str(e.envelope.event_id) for e in events)

    consumer = consumer_for(kafka_settings, producer, handle, group)
    await consumer.start()
    await eventually(lambda: handled == [good["event_id"]], what="the good event")
    await consumer.stop()
    dead = await read_exactly(kafka_settings.bootstrap_servers, dlq, 2)
    assert sorted(r.value for r in dead) == sorted([b"{not json", to_bytes(unsupported)])
    at = next(r.offset for r in dead if r.value == to_bytes(unsupported))

    dry = await replay(kafka_settings, dlq, Selection(reason="emoji"), dry_run=True)
    assert (dry.read, dry.replayed, dry.skipped) == (2, {topic: 1}, 1)
    await read_exactly(kafka_settings.bootstrap_servers, topic, 3)  # the dry run wrote nothing

    fixed = True
    consumer = consumer_for(kafka_settings, producer, handle, group)
    await consumer.start()
    done = await replay(kafka_settings, dlq, Selection(reason="emoji"))
    assert done.replayed == {topic: 1}
    await eventually(lambda: unsupported["event_id"] in handled, what="the replayed event")
    await consumer.stop()

    records = await read_exactly(kafka_settings.bootstrap_servers, topic, 4)
    replayed = records[-1]
    assert replayed.value == to_bytes(unsupported)
    headers = dict(replayed.headers)
    assert headers["trace"] == b"t-1"
    assert headers["dlq.replayed_from"] == f"{dlq}:{at}".encode()
    assert not any(k.startswith("dlq.") and k != "dlq.replayed_from" for k in headers)
    assert handled == [good["event_id"], unsupported["event_id"]]


async def test_replay_command_line_dry_run_by_offset_range(kafka_settings, producer):
    topic = spec_topic(FEEDBACK_RECEIVED, kafka_settings)
    dlq = FEEDBACK_RECEIVED.dlq + kafka_settings.topic_suffix
    headers = [("dlq.original.topic", topic.encode()), ("dlq.error", b"not JSON")]
    await producer.send_raw_many(dlq, [(b"k", f"bad {i}".encode(), headers) for i in range(5)])
    command = [sys.executable, "-m", "shared.kafka.replay", "--topic", dlq, "--dry-run"]
    command += ["--from-offset", "1", "--to-offset", "3", "--bootstrap", kafka_settings.bootstrap_servers]
    result = await asyncio.to_thread(
        subprocess.run,
        command,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert f"read 4 from {dlq}; would replay 3 to {topic}; skipped 1" in result.stdout
    await read_exactly(kafka_settings.bootstrap_servers, topic, 0)  # the dry run wrote nothing
