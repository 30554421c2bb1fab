"""Fixtures shared by the suite. Integration tests use the real broker and database that
`make test` starts (scripts/stack.py infra-up), each with topics and consumer groups of its own."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator

import pytest
from aiokafka.admin import AIOKafkaAdminClient

from scripts.infra import KafkaNode, local_postgres, port_open
from shared.contracts.registry import TOPICS, TopicSpec
from shared.db.engine import Database
from shared.kafka.admin import ensure_topics
from shared.kafka.producer import EventProducer
from shared.settings import DatabaseSettings, KafkaSettings

os.environ.setdefault("KAFKA_BOOTSTRAP_SERVERS", KafkaNode().bootstrap)
os.environ.setdefault("DATABASE_URL", local_postgres().url)


def unique_suffix() -> str:
    return f".t{uuid.uuid4().hex[:10]}"


def _require_broker() -> None:
    host, _, port = os.environ["KAFKA_BOOTSTRAP_SERVERS"].split(",")[0].rpartition(":")
    if not port_open(int(port), host or "127.0.0.1"):
        pytest.fail("Kafka is not running: use `make test`, which starts it")


@pytest.fixture
def kafka_settings() -> KafkaSettings:
    """Kafka settings whose topics carry a suffix unique to this test."""
    _require_broker()
    return KafkaSettings(topic_suffix=unique_suffix(), publish_timeout_s=10)


@pytest.fixture
async def topics(kafka_settings: KafkaSettings) -> AsyncIterator[None]:
    """Every registry topic and DLQ with this test's suffix, deleted afterwards."""
    created = await ensure_topics(kafka_settings, list(TOPICS.values()))
    yield
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_settings.bootstrap_servers)
    await admin.start()
    try:
        await admin.delete_topics(created)
    finally:
        await admin.close()


@pytest.fixture
async def producer(kafka_settings: KafkaSettings) -> AsyncIterator[EventProducer]:
    producer = EventProducer(kafka_settings, "tests")
    await producer.start()
    await producer.wait_connected(30)
    yield producer
    await producer.stop()


@pytest.fixture
async def database() -> AsyncIterator[Database]:
    database = Database(DatabaseSettings(), "tests")
    if not await database.reachable(5):
        pytest.fail("PostgreSQL is not reachable: use `make test`, which starts it")
    yield database
    await database.dispose()


def spec_topic(spec: TopicSpec, settings: KafkaSettings) -> str:
    return spec.name + settings.topic_suffix
