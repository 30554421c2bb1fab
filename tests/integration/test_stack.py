"""`make up` in miniature: the stack script starts the four real uvicorn services, each ready and
serving metrics, with the registry's topics on the broker; stopping them leaves no process behind."""

from __future__ import annotations

import asyncio
import os
import urllib.request

import pytest
from aiokafka.admin import AIOKafkaAdminClient

from scripts import stack
from scripts.infra import pid_alive, process_alive
from shared.contracts.registry import TOPICS

pytestmark = pytest.mark.integration
PORTS = {"ingest": 18001, "sentiment": 18002, "alerting": 18003, "loyalty": 18004}


def get(url: str) -> tuple[int, str, str]:
    with urllib.request.urlopen(url, timeout=5) as response:
        return response.status, response.headers["content-type"], response.read().decode()


async def test_stack_starts_every_service_ready_and_stops_them_all(monkeypatch, tmp_path):
    for name, port in PORTS.items():
        monkeypatch.setenv(f"{name.upper()}_PORT", str(port))
    monkeypatch.setattr(stack, "RUN_DIR", tmp_path / "run")
    monkeypatch.setattr(stack, "LOG_DIR", tmp_path / "logs")
    admin = AIOKafkaAdminClient(bootstrap_servers=os.environ["KAFKA_BOOTSTRAP_SERVERS"])
    await admin.start()
    try:
        existing = set(await admin.list_topics())
    finally:
        await admin.close()
    for spec in TOPICS.values():
        assert {spec.name, spec.dlq} <= existing

    try:
        await asyncio.to_thread(stack.start_services, False)
        for name, port in PORTS.items():
            base = f"http://127.0.0.1:{port}"
            assert get(f"{base}/healthz")[0] == 200
            assert get(f"{base}/readyz")[0] == 200
            status, content_type, body = get(f"{base}/metrics")
            assert status == 200
            assert content_type.startswith("text/plain")
            assert "# TYPE http_requests_total counter" in body, name
    finally:
        pids = {name: pid_alive(tmp_path / "run" / f"{name}.pid") for name in PORTS}
        await asyncio.to_thread(stack.stop_services)
    assert all(pids.values()), "every service had a live process"
    for name, pid in pids.items():
        assert pid is not None
        assert not process_alive(pid), name
        assert not (tmp_path / "run" / f"{name}.pid").exists()
