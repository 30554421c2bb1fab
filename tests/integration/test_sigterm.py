"""SIGTERM to a real consumer process mid-stream, then a restart: no message is lost or skipped."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, func, select

from scripts.infra import ROOT, free_port, port_open
from services.sentiment.models import processed_events
from shared.contracts.registry import FEEDBACK_RECEIVED
from tests.conftest import spec_topic
from tests.integration.helpers import eventually, feedback_received, to_bytes

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("topics")]


def start_sentiment(suffix: str, group: str, log: Path, port: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "KAFKA_TOPIC_SUFFIX": suffix, "SENTIMENT_CONSUMER_GROUP": group}
    with log.open("ab") as sink:
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "services.sentiment.app:create_app",
                "--factory",
                "--port",
                str(port),
            ],
            cwd=ROOT,
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )


async def test_sigterm_mid_stream_then_restart_loses_nothing(kafka_settings, producer, database, tmp_path):
    group = f"sentiment-{uuid.uuid4().hex[:8]}"
    topic = spec_topic(FEEDBACK_RECEIVED, kafka_settings)
    docs: list[dict[str, Any]] = []
    stop_publishing = asyncio.Event()

    async def count() -> int:
        async with database.transaction() as session:
            return int(
                await session.scalar(
                    select(func.count())
                    .select_from(processed_events)
                    .where(processed_events.c.consumer_group == group)
                )
                or 0
            )

    async def at_least(expected: int) -> bool:
        return await count() >= expected

    async def publish_until_told() -> None:
        while not stop_publishing.is_set():
            chunk = [feedback_received(f"C{i % 50}") for i in range(200)]
            await producer.send_raw_many(topic, [(d["key"].encode(), to_bytes(d), []) for d in chunk])
            docs.extend(chunk)
            await asyncio.sleep(0.05)

    port = free_port()
    assert not port_open(port)
    process = start_sentiment(kafka_settings.topic_suffix, group, tmp_path / "service.log", port)
    try:
        publishing = asyncio.create_task(publish_until_told())
        await eventually(lambda: at_least(500), 60, "500 events processed before SIGTERM")
        assert not publishing.done(), "still publishing, so the consumer is stopped mid-stream"
        process.send_signal(signal.SIGTERM)
        # uvicorn re-raises the signal after its graceful shutdown, so the exit status is -SIGTERM.
        assert await asyncio.to_thread(process.wait, 20) == -signal.SIGTERM
        log = (tmp_path / "service.log").read_text()
        assert '"service_stopped"' in log, "the lifespan drained the consumer and closed cleanly"
        stopped_at = await count()
        await asyncio.sleep(1.0)

        process = start_sentiment(kafka_settings.topic_suffix, group, tmp_path / "service.log", port)
        await asyncio.sleep(2.0)
        stop_publishing.set()
        await publishing
        await eventually(lambda: at_least(len(docs)), 60, "every published event processed")
        assert stopped_at < len(docs)
        async with database.transaction() as session:
            seen = {
                str(e)
                for e in await session.scalars(
                    select(processed_events.c.event_id).where(processed_events.c.consumer_group == group)
                )
            }
        assert seen == {d["event_id"] for d in docs}
    finally:
        process.terminate()
        process.wait(30)
        async with database.transaction() as session:
            await session.execute(delete(processed_events).where(processed_events.c.consumer_group == group))
