"""kill -9 of the loyalty service during a batch, then a restart: nothing lost, nothing applied twice."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Awaitable

import pytest
from sqlalchemy import text

from scripts.infra import ROOT, free_port, port_open
from shared.contracts.registry import COMMERCE_EVENTS
from tests.conftest import spec_topic
from tests.integration.test_loyalty import purchase, send
from tests.support.kafka import wait_caught_up
from tests.support.waiting import eventually

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("topics")]


def start(suffix: str, group: str, log, port: int) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "KAFKA_TOPIC_SUFFIX": suffix,
        "LOYALTY_CONSUMER_GROUP": group,
        "LOYALTY_SCHEDULE_INTERVAL_S": "0",
    }
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "services.loyalty.app:create_app",
            "--factory",
            "--port",
            str(port),
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )


async def test_kill_9_mid_batch_loses_and_duplicates_nothing(kafka_settings, producer, database, tmp_path):
    port = free_port()
    assert not port_open(port)
    prefix = f"K{uuid.uuid4().hex[:6]}-"
    members = [f"{prefix}{i}" for i in range(50)]
    docs = [purchase(members[i % 50], "10") for i in range(4000)]
    await send(producer, kafka_settings, docs)
    group = f"loyalty-{uuid.uuid4().hex[:8]}"

    async def applied() -> int:
        async with database.connection() as conn:
            return int(
                (
                    await conn.execute(
                        text("SELECT count(*) FROM loyalty.ledger WHERE customer_id LIKE :p"),
                        {"p": prefix + "%"},
                    )
                ).scalar_one()
            )

    with (tmp_path / "loyalty.log").open("ab") as log:
        process = start(kafka_settings.topic_suffix, group, log, port)
        try:
            await eventually(lambda: _positive(applied()), 30, "the first applied purchase")
            process.send_signal(signal.SIGKILL)
            await asyncio.to_thread(process.wait, 10)
            at_kill = await applied()
            assert 0 < at_kill < len(docs), "killed in the middle of the stream"
            process = start(kafka_settings.topic_suffix, group, log, port)
            await eventually(lambda: _at_least(applied(), len(docs)), 120, "every purchase applied")
            # Committed to the end: anything applied twice would be in the ledger by now.
            commerce = spec_topic(COMMERCE_EVENTS, kafka_settings)
            await wait_caught_up(kafka_settings.bootstrap_servers, group, [commerce], timeout_s=60)
        finally:
            process.terminate()
            process.wait(20)

    async with database.connection() as conn:
        rows = (
            await conn.execute(
                text("""
            SELECT m.customer_id, m.balance, coalesce(sum(l.points), 0), count(l.entry_id)
            FROM loyalty.members m LEFT JOIN loyalty.ledger l USING (customer_id)
            WHERE m.customer_id LIKE :p GROUP BY m.customer_id, m.balance
        """),
                {"p": prefix + "%"},
            )
        ).all()
    assert len(rows) == 50
    for customer_id, balance, ledger_sum, entries in rows:
        assert entries == 80, f"{customer_id}: {entries} ledger entries for 80 purchases"
        assert balance == ledger_sum == 800


async def _positive(count: Awaitable[int]) -> bool:
    return await count > 0


async def _at_least(count: Awaitable[int], wanted: int) -> bool:
    return await count >= wanted
