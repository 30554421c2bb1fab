"""Faults in the infrastructure under steady load: the Kafka broker is stopped and restarted, then
PostgreSQL is. The four services run on a broker and a database of their own (other tests are not
disturbed). Clients retry what was answered 503 (as Retry-After tells them); afterwards nothing accepted
is missing from feedback.scored.v1, no effect was applied twice, and every service is ready again."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from scripts.harness import SERVICES, Platform
from scripts.infra import ROOT, KafkaNode, PostgresNode, free_port, pg_home
from shared.db.engine import Database
from shared.settings import DatabaseSettings
from tests.e2e.load import RECOVERY_S, Load, check_effects_once
from tests.integration.alerting_helpers import Receiver, rules_file

pytestmark = pytest.mark.integration
OUTAGE_S = 6.0


@pytest.fixture
async def private_infra(tmp_path: Path) -> AsyncIterator[tuple[KafkaNode, PostgresNode]]:
    kafka = KafkaNode(home=tmp_path / "kafka", broker_port=free_port(), controller_port=free_port())
    postgres = PostgresNode(home=pg_home().parent / f"faults-{uuid.uuid4().hex[:8]}", port=free_port())
    try:
        await asyncio.gather(asyncio.to_thread(kafka.start), asyncio.to_thread(postgres.start))
        env = {**os.environ, "DATABASE_URL": postgres.url}
        await asyncio.to_thread(
            subprocess.run, [sys.executable, "-m", "shared.db.migrate"], check=True, env=env, cwd=ROOT
        )
        yield kafka, postgres
    finally:
        await asyncio.gather(asyncio.to_thread(kafka.stop), asyncio.to_thread(postgres.stop))
        shutil.rmtree(postgres.home, ignore_errors=True)


async def ready_again(platform: Platform) -> dict[str, float]:
    """Seconds until each service answers /readyz 200 again (all waited for at once)."""
    waits = [asyncio.to_thread(platform.servers[n].wait_ready, RECOVERY_S) for n in SERVICES]
    return dict(zip(SERVICES, await asyncio.gather(*waits), strict=True))


async def test_broker_and_database_restarts_under_load_lose_nothing_and_apply_nothing_twice(
    private_infra: tuple[KafkaNode, PostgresNode], sink: Receiver, tmp_path: Path
):
    kafka, postgres = private_infra
    rules, suffix = rules_file(tmp_path, sink.url)
    platform = Platform(
        tmp_path / "logs",
        sink.url,
        rules,
        env={"KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap, "DATABASE_URL": postgres.url},
        rule_suffix=f"-{suffix}",
    )
    await platform.create_topics()
    database = Database(DatabaseSettings.model_validate({"DATABASE_URL": postgres.url}), "faults")
    try:
        await asyncio.to_thread(platform.start)
        load = Load(platform)
        sending = asyncio.create_task(load.run())
        recovery: dict[str, dict[str, float]] = {}
        try:
            for name, node in (("kafka", kafka), ("postgres", postgres)):
                await asyncio.sleep(4)
                await asyncio.to_thread(node.stop)
                await asyncio.sleep(OUTAGE_S)
                await asyncio.to_thread(node.start)
                recovery[name] = await ready_again(platform)
        finally:
            await asyncio.sleep(3)
            load.stop.set()
            await sending
        await load.retry_unanswered()
        assert all(s < RECOVERY_S for waits in recovery.values() for s in waits.values()), recovery
        assert len(load.accepted) > 500
        await check_effects_once(load, platform, sink, database)
    finally:
        await asyncio.to_thread(platform.stop)
        await database.dispose()
