"""Personal data sent to ingest's API in identifiers, metadata keys and values and text reaches no Kafka
record (key, value, headers) and no row of the ingest table, on the real broker and database; a customer
written two ways is one pseudonymous key."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from services.ingest.app import create_app
from services.ingest.config import IngestSettings
from shared.contracts.registry import COMMERCE_EVENTS, FEEDBACK_RECEIVED
from shared.db.engine import Database
from shared.security import hash_key
from shared.settings import KafkaSettings
from tests.conftest import spec_topic
from tests.support.kafka import read_exactly

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("topics")]
KEY = {"X-API-Key": "dev-ingest-key"}
WHEN = "2026-11-20T09:30:00+08:00"

PHONE, PHONE_DOTTED, PHONE_INTL = "13812345678", "138.1234.5678", "+86 138/1234/5678"
EMAIL = "Li.Lei@Example.com"
CARD_DOTTED, CARD_SLASHED = "4111.1111.1111.1111", "5500/0000/0000/0004"
ID_SPACED = "110105 19900307 123X"
UK_PHONE = "+44 20.7946.0958"
FORBIDDEN = [
    PHONE,
    PHONE_DOTTED,
    PHONE_INTL,
    EMAIL.lower(),
    CARD_DOTTED,
    "4111111111111111",
    CARD_SLASHED,
    "5500000000000004",
    ID_SPACED.lower(),
    "11010519900307123x",
    UK_PHONE,
    "442079460958",
]
"""Everything sent below, as written and bare; compared in lower case."""


@pytest.fixture
async def client(kafka_settings: KafkaSettings) -> AsyncIterator[httpx.AsyncClient]:
    settings = IngestSettings(
        kafka=kafka_settings, api_keys={"demo": hash_key("dev-ingest-key")}, rate_limit_per_s=1000
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        await app.state.runtime.producer.wait_connected(30)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://ingest") as http:
            yield http


def feedback(customer_id: str, external_id: str) -> dict[str, Any]:
    return {
        "external_id": f"{external_id}:{uuid.uuid4().hex}",
        "channel": "app",
        "customer_id": customer_id,
        "text": f"请回电 {PHONE_DOTTED} 或刷卡 {CARD_SLASHED}",
        "csat": 2,
        "business_line": f"vip {EMAIL}",
        "region": UK_PHONE,
        "store_id": f"store:{CARD_DOTTED}",
        "product_id": ID_SPACED,
        "occurred_at": WHEN,
        "metadata": {PHONE_INTL: {EMAIL: [ID_SPACED]}, "card": CARD_DOTTED},
    }


def events() -> list[dict[str, Any]]:
    run = uuid.uuid4().hex
    bodies: list[dict[str, Any]] = [
        {
            "type": "purchase",
            "order_id": f"o:{CARD_SLASHED}",
            "customer_id": PHONE_DOTTED,
            "store_id": UK_PHONE,
            "amount": "12.50",
            "currency": "CNY",
            "occurred_at": WHEN,
            "items": [{"sku": ID_SPACED, "quantity": 1, "unit_price": "12.50"}],
        },
        {"type": "refund", "order_id": CARD_DOTTED, "customer_id": EMAIL, "amount": "1.00"},
        {"type": "referral", "referrer_id": PHONE_INTL, "referee_id": EMAIL},
        {"type": "survey_completed", "customer_id": ID_SPACED, "survey_id": f"s:{UK_PHONE}"},
    ]
    return [{**body, "external_id": f"{PHONE} {run}-{i}"} for i, body in enumerate(bodies)]


def leaked(*texts: str) -> list[str]:
    everything = "\n".join(texts).lower()
    return [f for f in FORBIDDEN if f in everything]


async def test_no_personal_data_reaches_a_topic_or_the_ingest_table(
    client, kafka_settings, database: Database
):
    ids = []
    single = await client.post("/v1/feedback", json=feedback(PHONE, EMAIL), headers=KEY)
    assert single.status_code == 202, single.text
    ids.append(single.json()["feedback_id"])
    batch = {"records": [feedback(PHONE_DOTTED, PHONE_INTL), feedback(PHONE_INTL, CARD_DOTTED)]}
    answer = (await client.post("/v1/feedback/batch", json=batch, headers=KEY)).json()
    assert answer["accepted"] == 2, answer
    ids += [r["feedback_id"] for r in answer["results"]]
    for event in events():
        response = await client.post("/v1/events", json=event, headers=KEY)
        assert response.status_code == 202, response.text
        ids.append(response.json()["event_id"])

    servers = kafka_settings.bootstrap_servers
    fed = await read_exactly(servers, spec_topic(FEEDBACK_RECEIVED, kafka_settings), 3)
    commerce = await read_exactly(servers, spec_topic(COMMERCE_EVENTS, kafka_settings), 4)
    assert (len(fed), len(commerce)) == (3, 4)
    for record in fed + commerce:
        headers = [value.decode() for _, value in record.headers]
        assert leaked(record.key.decode(), record.value.decode(), *headers) == [], record.value
    assert len({record.key for record in fed}) == 1  # one customer, written three ways: one key
    assert fed[0].key.startswith(b"pii_")

    async with database.driver() as connection:
        rows = await connection.fetch(
            "SELECT * FROM ingest.records WHERE record_id = ANY($1::uuid[])", [uuid.UUID(i) for i in ids]
        )
    assert len(rows) == len(ids) == 7
    assert leaked(*(str(value) for row in rows for value in row.values())) == []
