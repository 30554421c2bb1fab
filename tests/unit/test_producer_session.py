"""A producer whose idempotence session is lost (OutOfOrderSequenceNumber after a broker restart) is
replaced by a new one instead of failing every later send."""

from __future__ import annotations

import asyncio

import pytest
from aiokafka.errors import KafkaTimeoutError, OutOfOrderSequenceNumber

from shared.kafka.producer import BrokerUnavailable, EventProducer
from shared.settings import KafkaSettings


class FakeProducer:
    def __init__(self, error: Exception | None = None) -> None:
        self.error, self.stopped = error, False
        self.sent: list[bytes | None] = []

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        self.stopped = True

    async def send(self, topic, value=None, key=None, headers=None):
        if self.error is not None:
            raise self.error
        self.sent.append(value)
        done = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done


async def test_a_lost_session_replaces_the_producer_and_later_sends_go_through(monkeypatch):
    producer = EventProducer(KafkaSettings(publish_timeout_s=1), "tests")
    broken, fresh = FakeProducer(OutOfOrderSequenceNumber()), FakeProducer()
    monkeypatch.setattr(producer, "_new_producer", lambda: fresh)
    producer._producer = broken
    with pytest.raises(BrokerUnavailable, match="OutOfOrderSequenceNumber"):
        await producer.send_raw_many("t", [(b"k", b"v", [])])
    await producer.wait_connected(5)
    assert broken.stopped
    await producer.send_raw_many("t", [(b"k", b"v2", [])])
    assert fresh.sent == [b"v2"]
    await producer.stop()


async def test_a_timeout_keeps_the_producer():
    producer = EventProducer(KafkaSettings(publish_timeout_s=1), "tests")
    slow = FakeProducer(KafkaTimeoutError())
    producer._producer = slow
    with pytest.raises(BrokerUnavailable):
        await producer.send_raw_many("t", [(b"k", b"v", [])])
    assert producer._producer is slow
    assert not slow.stopped
