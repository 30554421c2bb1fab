"""Ingest never claims what the broker did not acknowledge: 503 while it is down, recovery after, and
no acknowledged record lost when the process is killed under load."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import uuid
from collections import defaultdict
from pathlib import Path
from typing import Any

import httpx
import pytest

from scripts.infra import ROOT, KafkaNode, free_port, port_open
from services.ingest.app import create_app
from services.ingest.config import IngestSettings
from shared.contracts.registry import FEEDBACK_RECEIVED, TOPICS
from shared.db.engine import Database
from shared.kafka.admin import ensure_topics
from shared.settings import KafkaSettings
from tests.conftest import spec_topic
from tests.integration.helpers import eventually
from tests.integration.test_ingest_api import KEY, feedback
from tests.support.kafka import read_exactly, read_to_end

pytestmark = pytest.mark.integration


def letters_only_id() -> str:
    """A unique id without digits: a hex id's long digit runs can look like a card or phone number,
    and ingest publishes such identifiers pseudonymised, where this test looks for them as sent."""
    return uuid.uuid4().hex.translate(str.maketrans("0123456789", "ghijklmnop"))


async def published_in_the_database(database: Database, external_id: str, timeout_s: float = 10) -> None:
    """Marks are written after the answer, in the background: wait for this record's."""
    query = """
        SELECT r.status = 'published'
               OR EXISTS (SELECT FROM ingest.published_batches b WHERE b.batch_id = r.batch_id)
        FROM ingest.records r WHERE r.client_id = 'demo' AND r.external_id = $1
    """

    async def published() -> bool:
        async with database.driver() as connection:
            return bool(await connection.fetchval(query, external_id))

    await eventually(published, timeout_s, f"record {external_id} marked published")


async def test_503_with_retry_after_while_the_broker_is_down_then_recovery(tmp_path: Path):
    node = KafkaNode(home=tmp_path / "kafka", broker_port=free_port(), controller_port=free_port())
    assert not port_open(node.broker_port)
    kafka = KafkaSettings(bootstrap_servers=node.bootstrap, publish_timeout_s=2)
    await asyncio.to_thread(node.start)
    try:
        await ensure_topics(kafka, list(TOPICS.values()))
        app = create_app(IngestSettings(kafka=kafka))
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://ingest") as http,
        ):
            await app.state.runtime.producer.wait_connected(30)
            assert (await http.post("/v1/feedback", json=feedback(), headers=KEY)).status_code == 202

            await asyncio.to_thread(node.stop)
            refused = feedback()
            response = await http.post("/v1/feedback", json=refused, headers=KEY)
            assert response.status_code == 503
            assert int(response.headers["Retry-After"]) > 0

            await asyncio.to_thread(node.start)
            answers: list[httpx.Response] = []

            async def accepted_again() -> bool:
                answers.append(await http.post("/v1/feedback", json=refused, headers=KEY))
                return answers[-1].status_code != 503

            await eventually(accepted_again, 60, "an answer other than 503 once the broker is back")
            retry = answers[-1]
            assert retry.status_code == 202, "the retried record is accepted once the broker is back"
            records = await read_exactly(node.bootstrap, FEEDBACK_RECEIVED.name, 3, timeout_s=10)
            ids = {
                json.loads(r.value)["payload"]["external_id"]: json.loads(r.value)["event_id"]
                for r in records
            }
            assert ids[refused["external_id"]] == retry.json()["feedback_id"]
            await published_in_the_database(app.state.runtime.database, refused["external_id"])

        # A fresh process knows only what the database says: the re-published record counts as published.
        fresh = create_app(IngestSettings(kafka=kafka))
        async with (
            fresh.router.lifespan_context(fresh),
            httpx.AsyncClient(transport=httpx.ASGITransport(app=fresh), base_url="http://ingest") as http,
        ):
            await fresh.state.runtime.producer.wait_connected(30)
            again = await http.post("/v1/feedback", json=refused, headers=KEY)
            assert (again.status_code, again.json()["feedback_id"]) == (200, retry.json()["feedback_id"])
    finally:
        await asyncio.to_thread(node.stop)


async def test_kill_during_load_loses_no_acknowledged_record(kafka_settings: KafkaSettings, topics, tmp_path):
    port = free_port()
    env = {**os.environ, "KAFKA_TOPIC_SUFFIX": kafka_settings.topic_suffix, "INGEST_RATE_LIMIT_PER_S": "0"}

    def start() -> subprocess.Popen[bytes]:
        with (tmp_path / "ingest.log").open("ab") as log:
            return subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "uvicorn",
                    "services.ingest.app:create_app",
                    "--factory",
                    "--port",
                    str(port),
                ],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    async def wait_ready(http: httpx.AsyncClient) -> None:
        async def ready() -> bool:
            try:
                return (await http.get("/readyz")).status_code == 200
            except httpx.TransportError:
                return False

        await eventually(ready, 30, "ingest ready")

    acknowledged: dict[str, str] = {}
    unanswered: list[dict[str, Any]] = []
    stop = asyncio.Event()

    async def post_until_stopped(http: httpx.AsyncClient) -> None:
        while not stop.is_set():
            body = feedback(external_id=f"k-{letters_only_id()}")
            try:
                response = await http.post("/v1/feedback", json=body, headers=KEY)
            except httpx.TransportError:
                unanswered.append(body)
                continue
            if response.status_code in (200, 202):
                acknowledged[body["external_id"]] = response.json()["feedback_id"]
            else:
                unanswered.append(body)

    process = start()
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
            await wait_ready(http)
            workers = [asyncio.create_task(post_until_stopped(http)) for _ in range(16)]
            await eventually(lambda: len(acknowledged) >= 300, 120, "300 records acknowledged under load")
            process.send_signal(signal.SIGKILL)
            await asyncio.to_thread(process.wait, 10)
            await asyncio.sleep(0.5)
            stop.set()
            await asyncio.gather(*workers)

            # Clients retry what got no answer; the restarted service accepts each exactly once.
            process = start()
            await wait_ready(http)
            for body in unanswered:
                response = await http.post("/v1/feedback", json=body, headers=KEY)
                assert response.status_code in (200, 202), response.text
                acknowledged[body["external_id"]] = response.json()["feedback_id"]
    finally:
        process.terminate()
        process.wait(20)

    # A record published just before the kill but never answered is published again on its retry, so
    # there may be more records than answers: duplicates are told apart by event id below.
    records = await read_to_end(
        kafka_settings.bootstrap_servers,
        spec_topic(FEEDBACK_RECEIVED, kafka_settings),
        len(acknowledged),
        timeout_s=30,
    )
    published: dict[str, set[str]] = defaultdict(set)
    for record in records:
        envelope = json.loads(record.value)
        published[envelope["payload"]["external_id"]].add(envelope["event_id"])
        assert "13812345678" not in record.value.decode()
    missing = [ext for ext, fid in acknowledged.items() if fid not in published.get(ext, set())]
    assert not missing, f"{len(missing)} acknowledged records are not on the topic"
    assert all(len(ids) == 1 for ids in published.values()), "an external_id was published under two ids"
    assert len(acknowledged) >= 300


async def test_a_claim_stuck_on_the_database_answers_503_instead_of_hanging(kafka_settings, topics, database):
    """A claim waiting on a lock (or a hung database) gives up after INGEST_DATABASE_TIMEOUT_S: 503 with
    Retry-After, nothing published; once the lock is gone the same record is accepted."""
    body = feedback()
    app = create_app(IngestSettings(kafka=kafka_settings, database_timeout_s=1))
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://ingest") as http,
        database.engine.connect() as connection,
    ):
        await app.state.runtime.producer.wait_connected(30)
        blocker = (await connection.get_raw_connection()).driver_connection
        held = blocker.transaction()
        await held.start()
        # An uncommitted claim of the same pair: ingest's insert waits for this transaction.
        await blocker.execute(
            "INSERT INTO ingest.records (client_id, external_id, kind, record_id, payload_hash, status)"
            " VALUES ('demo', $1, 'feedback', gen_random_uuid(), 'x', 'pending')",
            body["external_id"],
        )
        began = asyncio.get_running_loop().time()
        async with asyncio.timeout(10):  # a regression would wait for the lock forever
            stuck = await http.post("/v1/feedback", json=body, headers=KEY)
        assert stuck.status_code == 503
        assert int(stuck.headers["Retry-After"]) > 0
        assert asyncio.get_running_loop().time() - began < 5
        await held.rollback()
        accepted = await http.post("/v1/feedback", json=body, headers=KEY)
        assert accepted.status_code == 202
    records = await read_exactly(
        kafka_settings.bootstrap_servers, spec_topic(FEEDBACK_RECEIVED, kafka_settings), 1
    )
    assert [json.loads(r.value)["payload"]["external_id"] for r in records] == [body["external_id"]]
