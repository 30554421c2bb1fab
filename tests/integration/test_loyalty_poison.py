"""Loyalty with a purchase it cannot store: that one goes to the DLQ, the purchases around it are applied."""

from __future__ import annotations

import asyncio
import uuid
from decimal import Decimal
from typing import Any

import httpx
import pytest

import services.loyalty.apply
from shared.contracts.registry import COMMERCE_EVENTS
from tests.conftest import spec_topic
from tests.integration.test_loyalty import purchase, send
from tests.support.kafka import read_exactly

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("topics")]
OPERATOR = {"X-API-Key": "dev-operator-key"}  # reads members whatever read-only keys are configured
OVERFLOWING = Decimal("4242.42")


@pytest.fixture
def earning_beyond_any_column(monkeypatch: pytest.MonkeyPatch) -> None:
    """A purchase of OVERFLOWING earns more points than the ledger's points columns hold (beyond bigint, so
    whatever width they have): the database refuses the batch's write, as it refused 32-bit overflows."""
    earn = services.loyalty.apply.purchase_points  # type: ignore[attr-defined]  # as apply calls it

    def points(amount: Decimal, *args: Any) -> tuple[int, list[str]]:
        return (2**70, ["test:overflow"]) if amount == OVERFLOWING else earn(amount, *args)

    monkeypatch.setattr(services.loyalty.apply, "purchase_points", points)


async def balance_reaches(http: httpx.AsyncClient, customer: str, balance: int) -> dict[str, Any]:
    body: dict[str, Any] = {}
    async with asyncio.timeout(30):
        while body.get("balance") != balance:
            await asyncio.sleep(0.1)
            response = await http.get(f"/v1/members/{customer}", headers=OPERATOR)
            body = response.json() if response.status_code == 200 else {}
    return body


@pytest.mark.usefixtures("earning_beyond_any_column")
async def test_a_purchase_whose_points_overflow_is_dead_lettered_and_later_purchases_are_applied(
    loyalty, producer, kafka_settings
):
    who = f"M-{uuid.uuid4().hex[:10]}"
    bad = purchase(who, str(OVERFLOWING))
    # One key, so one partition and this order: the bad purchase sits in the middle of a batch.
    await send(producer, kafka_settings, [purchase(who, "100"), bad, purchase(who, "250")])
    await balance_reaches(loyalty, who, 350)
    await send(producer, kafka_settings, [purchase(who, "50")])
    body = await balance_reaches(loyalty, who, 400)
    assert body["qualifying_spend"] == "400.00"  # nothing of the bad purchase was kept

    dead = await read_exactly(
        kafka_settings.bootstrap_servers, COMMERCE_EVENTS.dlq + kafka_settings.topic_suffix, 1
    )
    assert len(dead) == 1
    headers = dict(dead[0].headers)
    assert headers["dlq.original.topic"] == spec_topic(COMMERCE_EVENTS, kafka_settings).encode()
    assert headers["dlq.cause"] == b"deterministic"
    assert b"out of int" in headers["dlq.error"]  # asyncpg: "value out of int32/int64 range"
    assert b'"event_id": "' + bad["event_id"].encode() in dead[0].value
