"""The ledger on the real database holds what the largest accepted purchase earns under the largest
multipliers, and the refund that takes it back (32-bit columns overflowed and stalled the consumer)."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from shared.contracts.bounds import MAX_AMOUNT
from shared.contracts.registry import COMMERCE_EVENTS
from shared.kafka.producer import EventProducer
from shared.settings import KafkaSettings
from tests.conftest import spec_topic

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("topics")]
OPERATOR = {"X-API-Key": "dev-operator-key"}
TUESDAY = datetime(2026, 11, 17, 10, 0, tzinfo=UTC)
WEDNESDAY = TUESDAY + timedelta(days=1)  # double points under the shipped rules
POINTS_COLUMNS = {
    ("members", "balance"),
    ("lots", "points"),
    ("lots", "remaining"),
    ("ledger", "points"),
    ("ledger", "balance_after"),
    ("orders", "points_earned"),
    ("orders", "points_clawed_back"),
    ("redemptions", "points"),
}


def commerce(kind: str, customer: str, at: datetime, **payload: Any) -> dict[str, Any]:
    return {
        "event_id": str(uuid.uuid4()),
        "type": kind,
        "version": 1,
        "occurred_at": at.isoformat(),
        "source": "tests",
        "key": customer,
        "payload": {"client_id": "pos", "external_id": uuid.uuid4().hex, "customer_id": customer, **payload},
    }


async def send(producer: EventProducer, settings: KafkaSettings, docs: list[dict[str, Any]]) -> None:
    topic = spec_topic(COMMERCE_EVENTS, settings)
    await producer.send_raw_many(topic, [(d["key"].encode(), json.dumps(d).encode(), []) for d in docs])


async def balance_becomes(
    http: httpx.AsyncClient, customer: str, expected: int, timeout_s: float = 60
) -> Any:
    """The member's summary once its balance is `expected` (polled: the consumer applies asynchronously)."""
    body: Any = {}
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while body.get("balance") != expected:
        if loop.time() > deadline:
            raise AssertionError(f"balance of {customer} never became {expected}: {body}")
        await asyncio.sleep(0.1)
        response = await http.get(f"/v1/members/{customer}", headers=OPERATOR)
        body = response.json() if response.status_code == 200 else {}
    return body


async def test_the_ledger_stores_the_largest_purchase_under_the_largest_multipliers(
    loyalty, producer, kafka_settings
):
    who = f"M-{uuid.uuid4().hex[:10]}"
    order = uuid.uuid4().hex
    amount = str(MAX_AMOUNT)
    first = commerce(
        "purchase",
        who,
        TUESDAY,
        order_id=uuid.uuid4().hex,
        amount=amount,
        currency="CNY",
        occurred_at=TUESDAY.isoformat(),
    )
    await send(producer, kafka_settings, [first])
    # Bronze: 9,999,999,999 points; the spend makes the member diamond (×2), and Wednesday doubles again.
    body = await balance_becomes(loyalty, who, 9_999_999_999)
    assert body["tier"] == "diamond"
    second = commerce(
        "purchase",
        who,
        WEDNESDAY,
        order_id=order,
        amount=amount,
        currency="CNY",
        occurred_at=WEDNESDAY.isoformat(),
    )
    await send(producer, kafka_settings, [second])
    await balance_becomes(loyalty, who, 9_999_999_999 + 39_999_999_999)

    await send(producer, kafka_settings, [commerce("refund", who, WEDNESDAY, order_id=order, amount=amount)])
    await balance_becomes(loyalty, who, 9_999_999_999)
    ledger = (await loyalty.get(f"/v1/members/{who}/ledger", headers=OPERATOR)).json()["entries"]
    assert [(e["kind"], e["points"], e["balance_after"]) for e in ledger] == [
        ("clawed_back", -39_999_999_999, 9_999_999_999),
        ("earned", 39_999_999_999, 49_999_999_998),
        ("earned", 9_999_999_999, 9_999_999_999),
    ]


async def test_every_points_column_is_bigint_at_the_head_migration(database):
    async with database.connection() as conn:
        rows = await conn.execute(
            text(
                "SELECT table_name, column_name, data_type FROM information_schema.columns "
                "WHERE table_schema = 'loyalty' AND (table_name, column_name) IN "
                "(SELECT * FROM unnest(CAST(:t AS text[]), CAST(:c AS text[])))"
            ),
            {"t": [t for t, _ in POINTS_COLUMNS], "c": [c for _, c in POINTS_COLUMNS]},
        )
        found = {(r.table_name, r.column_name): r.data_type for r in rows}
    assert found == dict.fromkeys(POINTS_COLUMNS, "bigint")
