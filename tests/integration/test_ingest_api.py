"""The ingest API on the real broker and database: accepted only after the ack, never twice, bad input
answered precisely, personal data masked before it reaches the topic."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer

from services.ingest.app import create_app
from services.ingest.config import IngestSettings
from shared.contracts.registry import COMMERCE_EVENTS, FEEDBACK_RECEIVED
from shared.security import hash_key
from shared.settings import KafkaSettings
from tests.conftest import spec_topic
from tests.support.kafka import read_exactly

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("topics")]
KEY = {"X-API-Key": "dev-ingest-key"}


NO_DIGITS = str.maketrans("0123456789", "ghijklmnop")


def unique_id() -> str:
    """A fresh external_id without digits: a uuid's hex holds, now and then, 13 or more digits in a row
    that pass Luhn, which the masker rightly counts as a card and would change `pii_masked`."""
    return f"t-{uuid.uuid4().hex.translate(NO_DIGITS)}"


def feedback(**overrides: Any) -> dict[str, Any]:
    body = {
        "external_id": unique_id(),
        "channel": "web",
        "customer_id": "C10086",
        "text": "包装破损但客服很专业，请回电 13812345678 或 li.lei@example.com",
        "csat": 3,
        "business_line": "retail",
        "occurred_at": "2026-11-20T09:30:00+08:00",
        "metadata": {"contact": "+44 20 7946 0958"},
    }
    return {**body, **overrides}


@pytest.fixture
async def client(kafka_settings: KafkaSettings) -> AsyncIterator[httpx.AsyncClient]:
    settings = IngestSettings(
        kafka=kafka_settings,
        api_keys={"demo": hash_key("dev-ingest-key"), "crm": hash_key("crm-key")},
        rate_limit_per_s=1000,
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        await app.state.runtime.producer.wait_connected(30)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://ingest") as http:
            yield http


async def on_topic(settings: KafkaSettings, spec=FEEDBACK_RECEIVED, expected: int = 1, timeout_s: float = 10):
    return await read_exactly(settings.bootstrap_servers, spec_topic(spec, settings), expected, timeout_s)


async def test_feedback_is_accepted_after_the_ack_and_published_masked(client, kafka_settings):
    body = feedback()
    response = await client.post("/v1/feedback", json=body, headers=KEY)
    assert response.status_code == 202
    feedback_id = response.json()["feedback_id"]
    assert response.json()["status"] == "accepted"

    [record] = await on_topic(kafka_settings)
    assert record.key == b"C10086"
    raw = record.value.decode()
    for secret in ("13812345678", "li.lei@example.com", "7946 0958"):
        assert secret not in raw
    envelope = json.loads(raw)
    assert envelope["event_id"] == feedback_id
    assert envelope["source"] == "demo"
    assert envelope["payload"]["feedback_id"] == feedback_id
    assert envelope["payload"]["text"] == "包装破损但客服很专业，请回电 138****5678 或 l***@example.com"
    assert envelope["payload"]["pii_masked"] == {"phone": 2, "email": 1}
    assert envelope["payload"]["language"] == "zh"


async def test_same_pair_again_is_200_with_the_same_id_and_nothing_new_published(client, kafka_settings):
    body = feedback()
    first = await client.post("/v1/feedback", json=body, headers=KEY)
    again = await client.post("/v1/feedback", json=body, headers=KEY)
    assert (first.status_code, again.status_code) == (202, 200)
    assert again.json() == {"feedback_id": first.json()["feedback_id"], "status": "duplicate"}
    assert len(await on_topic(kafka_settings, expected=1)) == 1


async def test_same_pair_with_a_different_payload_is_409(client):
    body = feedback()
    first = await client.post("/v1/feedback", json=body, headers=KEY)
    changed = await client.post("/v1/feedback", json={**body, "csat": 1}, headers=KEY)
    assert changed.status_code == 409
    assert changed.json()["detail"]["feedback_id"] == first.json()["feedback_id"]


async def test_the_same_pair_sent_concurrently_is_accepted_once_and_published_once(client, kafka_settings):
    """Concurrent requests are grouped; repeats of a record in flight wait for its outcome."""
    body = feedback()
    responses = await asyncio.gather(*(client.post("/v1/feedback", json=body, headers=KEY) for _ in range(8)))
    codes = sorted(r.status_code for r in responses)
    assert codes == [200] * 7 + [202]
    assert len({r.json()["feedback_id"] for r in responses}) == 1
    assert len(await on_topic(kafka_settings, expected=1)) == 1


async def test_a_concurrent_repeat_with_another_payload_is_a_conflict(client, kafka_settings):
    body = feedback()
    first, second = await asyncio.gather(
        client.post("/v1/feedback", json=body, headers=KEY),
        client.post("/v1/feedback", json={**body, "csat": 1}, headers=KEY),
    )
    assert sorted([first.status_code, second.status_code]) == [202, 409]
    assert len(await on_topic(kafka_settings, expected=1)) == 1


async def test_records_land_in_the_partition_a_plain_producer_picks_for_their_key(client, kafka_settings):
    """Ingest builds per-partition batches itself; a customer's records must still go where aiokafka's
    own `send` puts that key, or per-customer order would break against other producers."""
    customers = [f"C-part-{i}" for i in range(12)]
    single = await client.post("/v1/feedback", json=feedback(customer_id=customers[0]), headers=KEY)
    assert single.status_code == 202
    batch = {"records": [feedback(customer_id=c) for c in customers]}
    assert (await client.post("/v1/feedback/batch", json=batch, headers=KEY)).json()["accepted"] == 12
    ingested: dict[bytes, set[int]] = {}
    for record in await on_topic(kafka_settings, expected=13):
        ingested.setdefault(record.key, set()).add(record.partition)
    topic = spec_topic(FEEDBACK_RECEIVED, kafka_settings)
    producer = AIOKafkaProducer(bootstrap_servers=kafka_settings.bootstrap_servers)
    await producer.start()
    try:
        plain = {
            c.encode(): {(await producer.send_and_wait(topic, b"{}", key=c.encode())).partition}
            for c in customers
        }
    finally:
        await producer.stop()
    assert ingested == plain
    assert len({p for found in plain.values() for p in found}) > 1  # the keys do spread


async def test_the_same_external_id_from_another_client_is_another_record(client):
    body = feedback()
    ours = await client.post("/v1/feedback", json=body, headers=KEY)
    theirs = await client.post("/v1/feedback", json=body, headers={"X-API-Key": "crm-key"})
    assert (ours.status_code, theirs.status_code) == (202, 202)
    assert ours.json()["feedback_id"] != theirs.json()["feedback_id"]


async def test_idempotency_survives_a_restart(kafka_settings, client):
    body = feedback()
    first = await client.post("/v1/feedback", json=body, headers=KEY)
    app = create_app(IngestSettings(kafka=kafka_settings))
    async with app.router.lifespan_context(app):
        await app.state.runtime.producer.wait_connected(30)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://ingest") as fresh:
            again = await fresh.post("/v1/feedback", json=body, headers=KEY)
    assert again.status_code == 200
    assert again.json()["feedback_id"] == first.json()["feedback_id"]


async def test_batch_answers_per_item_and_accepts_the_valid_ones(client, kafka_settings):
    earlier = feedback()
    assert (await client.post("/v1/feedback", json=earlier, headers=KEY)).status_code == 202
    fresh = feedback(text="great service", csat=5)
    records = [
        fresh,
        fresh,  # a duplicate inside the batch
        earlier,  # a duplicate across batches
        {**earlier, "csat": 1},  # conflict with the earlier batch
        feedback(channel="fax", csat=9, surprise=True),  # rejected, three fields named
        feedback(text="", csat=None),
    ]
    response = await client.post("/v1/feedback/batch", json={"records": records}, headers=KEY)
    assert response.status_code == 200
    body = response.json()
    assert [r["status"] for r in body["results"]] == [
        "accepted",
        "duplicate",
        "duplicate",
        "conflict",
        "rejected",
        "rejected",
    ]
    assert (body["accepted"], body["duplicate"], body["conflict"], body["rejected"]) == (1, 2, 1, 2)
    assert body["results"][0]["feedback_id"] == body["results"][1]["feedback_id"]
    assert {e["field"] for e in body["results"][4]["errors"]} == {"channel", "csat", "surprise"}
    assert body["results"][5]["errors"][0]["field"] == "text"
    assert len(await on_topic(kafka_settings, expected=2)) == 2


async def test_batch_over_1000_records_is_refused(client):
    response = await client.post("/v1/feedback/batch", json={"records": [feedback()] * 1001}, headers=KEY)
    assert response.status_code == 422
    assert response.json()["detail"][0]["field"] == "records"


@pytest.mark.parametrize(
    ("event", "key"),
    [
        (
            {
                "type": "purchase",
                "order_id": "O-1",
                "customer_id": "C1",
                "amount": "1288.00",
                "currency": "CNY",
                "occurred_at": "2026-11-20T09:10:00+08:00",
                "items": [{"sku": "S", "quantity": 2, "unit_price": "644"}],
            },
            b"C1",
        ),
        ({"type": "refund", "order_id": "O-1", "customer_id": "C1", "amount": "644.00"}, b"C1"),
        ({"type": "referral", "referrer_id": "C1", "referee_id": "C2"}, b"C1"),
        ({"type": "survey_completed", "customer_id": "C3", "survey_id": "nps-q4"}, b"C3"),
    ],
    ids=lambda v: v["type"] if isinstance(v, dict) else "",
)
async def test_each_business_event_is_published_for_loyalty(client, kafka_settings, event, key):
    body = {**event, "external_id": f"e-{uuid.uuid4().hex}"}
    response = await client.post("/v1/events", json=body, headers=KEY)
    assert response.status_code == 202, response.text
    [record] = await on_topic(kafka_settings, COMMERCE_EVENTS)
    envelope = json.loads(record.value)
    assert record.key == key
    assert envelope["type"] == event["type"]
    assert envelope["event_id"] == response.json()["event_id"]
    assert envelope["payload"]["client_id"] == "demo"
    again = await client.post("/v1/events", json=body, headers=KEY)
    assert again.json() == {"event_id": response.json()["event_id"], "status": "duplicate"}


async def test_email_webhook_becomes_email_feedback_with_a_pseudonymous_customer(client, kafka_settings):
    mail = {
        "message_id": f"<{uuid.uuid4().hex}@mail>",
        "from": "Wang.Fang@example.cn",
        "subject": "投诉",
        "body": "车门生锈了",
        "received_at": "2026-11-20T09:00:00+08:00",
    }
    response = await client.post("/v1/adapters/email", json=mail, headers=KEY)
    assert response.status_code == 202, response.text
    [record] = await on_topic(kafka_settings)
    payload = json.loads(record.value)["payload"]
    assert payload["channel"] == "email"
    assert payload["customer_id"].startswith("anon-")
    assert "wang.fang" not in record.value.decode().lower()
    assert payload["text"] == "投诉\n\n车门生锈了"


async def test_call_transcript_keeps_what_the_customer_said(client, kafka_settings):
    call = {
        "call_id": uuid.uuid4().hex,
        "customer_id": "C5",
        "started_at": "2026-11-20T09:00:00+08:00",
        "segments": [
            {"speaker": "ivr", "text": "欢迎致电"},
            {"speaker": "customer", "text": "快递三天没到"},
            {"speaker": "agent", "text": "抱歉"},
            {"speaker": "customer", "text": "太慢了"},
        ],
    }
    response = await client.post("/v1/adapters/call-transcript", json=call, headers=KEY)
    assert response.status_code == 202
    [record] = await on_topic(kafka_settings)
    payload = json.loads(record.value)["payload"]
    assert (payload["channel"], payload["text"]) == ("phone", "快递三天没到\n太慢了")
    assert payload["metadata"]["segments"] == 4


async def test_adapter_input_that_is_no_feedback_is_422_naming_the_adapters_field(client):
    """Found by schemathesis: an empty mail, a silent caller or a future time used to be a 500."""
    mail = {"message_id": "m-1", "from": "a@b.cn", "received_at": "2026-11-20T09:00:00+08:00"}
    response = await client.post("/v1/adapters/email", json=mail, headers=KEY)
    assert response.status_code == 422, response.text
    assert [e["field"] for e in response.json()["detail"]] == ["body"]
    call = {"call_id": "c-1", "customer_id": "C5", "started_at": "2026-11-20T09:00:00+08:00", "segments": []}
    response = await client.post("/v1/adapters/call-transcript", json=call, headers=KEY)
    assert response.status_code == 422, response.text
    assert [e["field"] for e in response.json()["detail"]] == ["segments"]
    mail |= {"body": "车门生锈了", "received_at": "2999-01-01T00:00:00+00:00"}
    response = await client.post("/v1/adapters/email", json=mail, headers=KEY)
    assert response.status_code == 422, response.text
    assert [e["field"] for e in response.json()["detail"]] == ["received_at"]


async def test_missing_or_wrong_key_is_401(client):
    assert (await client.post("/v1/feedback", json=feedback())).status_code == 401
    wrong = await client.post("/v1/feedback", json=feedback(), headers={"X-API-Key": "nope"})
    assert wrong.status_code == 401


async def test_bad_input_gets_a_precise_answer(client):
    malformed = await client.post(
        "/v1/feedback", content=b'{"external_id": ', headers={**KEY, "content-type": "application/json"}
    )
    assert malformed.status_code == 400
    assert "malformed JSON" in malformed.json()["detail"]
    unknown = await client.post("/v1/feedback", json=feedback(colour="red"), headers=KEY)
    assert unknown.status_code == 422
    assert unknown.json()["detail"][0]["field"] == "colour"
    future = await client.post(
        "/v1/feedback", json=feedback(occurred_at="2099-01-01T00:00:00+00:00"), headers=KEY
    )
    assert future.json()["detail"][0]["field"] == "occurred_at"
    naive = await client.post("/v1/feedback", json=feedback(occurred_at="2026-11-20T09:30:00"), headers=KEY)
    assert naive.json()["detail"][0]["field"] == "occurred_at"
    big_metadata = await client.post("/v1/feedback", json=feedback(metadata={"x": "y" * 9000}), headers=KEY)
    assert big_metadata.json()["detail"][0]["field"] == "metadata"
    huge = await client.post(
        "/v1/feedback/batch", content=b"x" * 1_000_001, headers={**KEY, "content-type": "application/json"}
    )
    assert huge.status_code == 413


async def test_each_client_is_rate_limited_with_retry_after(kafka_settings):
    app = create_app(IngestSettings(kafka=kafka_settings, rate_limit_per_s=1, rate_limit_burst=2))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://ingest") as http:
            await app.state.runtime.producer.wait_connected(30)
            codes = [
                (await http.post("/v1/feedback", json=feedback(), headers=KEY)).status_code for _ in range(3)
            ]
            limited = await http.post("/v1/feedback", json=feedback(), headers=KEY)
    assert codes[:2] == [202, 202]
    assert limited.status_code == 429
    assert int(limited.headers["Retry-After"]) >= 1


async def test_a_nul_character_is_refused_naming_the_field_and_never_reaches_the_database(
    client, kafka_settings
):
    """PostgreSQL refuses NUL in text: one such record in a group claim would fail every request of
    the group, and downstream it would poison consumers. Refused at the door, per field."""
    single = await client.post("/v1/feedback", json=feedback(customer_id="C\x00"), headers=KEY)
    assert single.status_code == 422
    assert single.json()["detail"][0]["field"] == "customer_id"
    nested = await client.post(
        "/v1/feedback", json=feedback(metadata={"note": ["ok", "a\x00b"]}), headers=KEY
    )
    assert nested.json()["detail"][0]["field"] == "metadata.note[1]"
    event = {"type": "survey_completed", "external_id": "s\x00", "customer_id": "C1", "survey_id": "S1"}
    assert (await client.post("/v1/events", json=event, headers=KEY)).status_code == 422
    good = feedback()
    batch = await client.post(
        "/v1/feedback/batch", json={"records": [feedback(text="bad \x00 text"), good]}, headers=KEY
    )
    assert [r["status"] for r in batch.json()["results"]] == ["rejected", "accepted"]
    assert batch.json()["results"][0]["errors"][0]["field"] == "text"
    [record] = await on_topic(kafka_settings)
    assert json.loads(record.value)["payload"]["external_id"] == good["external_id"]
