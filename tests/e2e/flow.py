"""Test data and waits for end-to-end tests: requests as other systems send them, topics read back."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import httpx
from aiokafka import AIOKafkaConsumer

from scripts.harness import INGEST_KEY, Platform

T = TypeVar("T")
COMPLAINT = "质量太差了，刀具生锈，非常失望"  # the default model gives this 1 star (p ≈ 0.75)
PRAISE = "非常满意，物流很快，包装完好"  # 5 stars


def last_tuesday() -> datetime:
    """A recent Tuesday morning: inside every rolling window, and not a double-points Wednesday."""
    today = datetime.now(UTC).replace(hour=10, minute=0, second=0, microsecond=0)
    back = (today.weekday() - 1) % 7 or 7
    return today - timedelta(days=back)


def customer(prefix: str = "E") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def feedback(customer_id: str, text: str, **fields: Any) -> dict[str, Any]:
    return {
        "external_id": f"e2e-{uuid.uuid4().hex}",
        "channel": "app",
        "customer_id": customer_id,
        "text": text,
        "business_line": "retail",
        "occurred_at": datetime.now(UTC).isoformat(),
        **fields,
    }


def purchase(customer_id: str, amount: str, at: datetime) -> dict[str, Any]:
    return {
        "type": "purchase",
        "external_id": f"e2e-{uuid.uuid4().hex}",
        "order_id": f"O-{uuid.uuid4().hex[:12]}",
        "customer_id": customer_id,
        "amount": amount,
        "currency": "CNY",
        "occurred_at": at.isoformat(),
        "channel": "store",
    }


async def post_feedback(http: httpx.AsyncClient, platform: Platform, body: dict[str, Any]) -> str:
    response = await http.post(f"{platform.url('ingest')}/v1/feedback", json=body, headers=INGEST_KEY)
    assert response.status_code == 202, response.text
    return str(response.json()["feedback_id"])


async def post_event(http: httpx.AsyncClient, platform: Platform, body: dict[str, Any]) -> None:
    response = await http.post(f"{platform.url('ingest')}/v1/events", json=body, headers=INGEST_KEY)
    assert response.status_code == 202, response.text


async def until(
    probe: Callable[[], Awaitable[T | None]], timeout_s: float = 30.0, what: str = "condition"
) -> T:
    """The first truthy result of `probe`, polled every 0.2 s; AssertionError after timeout_s."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        found = await probe()
        if found:
            return found
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{what} not reached within {timeout_s:.0f}s")
        await asyncio.sleep(0.2)


async def envelopes(
    bootstrap: str, topic: str, done: Callable[[list[dict[str, Any]]], bool], timeout_s: float = 30.0
) -> list[dict[str, Any]]:
    """Every envelope on `topic` from the beginning, read until `done(envelopes)` or timeout_s."""
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", enable_auto_commit=False
    )
    await consumer.start()
    found: list[dict[str, Any]] = []
    try:
        async with asyncio.timeout(timeout_s):
            while not done(found):
                for records in (await consumer.getmany(timeout_ms=500)).values():
                    found.extend(json.loads(r.value) for r in records)
    except TimeoutError:
        pass
    finally:
        await consumer.stop()
    return found
