"""Loyalty on the real broker and database: points, tiers, rewards, refunds, redemptions, the outbox,
and effects exactly once under redelivery and replay."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from services.loyalty.app import create_app
from services.loyalty.config import LoyaltySettings
from shared.contracts.registry import ALERTS, COMMERCE_EVENTS, FEEDBACK_RECEIVED, LOYALTY_CHANGES
from shared.kafka.producer import EventProducer
from shared.settings import KafkaSettings
from tests.conftest import spec_topic
from tests.integration.helpers import EXAMPLES, eventually, feedback_received, to_bytes
from tests.support.kafka import read_exactly, wait_caught_up

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("topics")]
OPERATOR = {"X-API-Key": "dev-operator-key"}
READER = {"X-API-Key": "dev-loyalty-key"}  # the read-only key of client `console`
TUESDAY = datetime(2026, 11, 17, 10, 0, tzinfo=UTC)


def event(kind: str, key: str, at: datetime = TUESDAY, **payload: Any) -> dict[str, Any]:
    return {
        "event_id": str(uuid.uuid4()),
        "type": kind,
        "version": 1,
        "occurred_at": at.isoformat(),
        "source": "tests",
        "key": key,
        "payload": {"client_id": "pos", "external_id": uuid.uuid4().hex, **payload},
    }


def purchase(customer: str, amount: str, order: str | None = None, at: datetime = TUESDAY) -> dict[str, Any]:
    return event(
        "purchase",
        customer,
        at,
        order_id=order or uuid.uuid4().hex,
        customer_id=customer,
        amount=amount,
        currency="CNY",
        occurred_at=at.isoformat(),
    )


async def send(
    producer: EventProducer, settings: KafkaSettings, docs: list[dict[str, Any]], spec=COMMERCE_EVENTS
):
    await producer.send_raw_many(
        spec_topic(spec, settings), [(d["key"].encode(), to_bytes(d), []) for d in docs]
    )


async def member_when(http: httpx.AsyncClient, customer: str, check, timeout_s: float = 30) -> dict[str, Any]:
    body: dict[str, Any] = {}

    async def reached() -> bool:
        nonlocal body
        response = await http.get(f"/v1/members/{customer}", headers=READER)
        if response.status_code != 200:
            return False
        body = response.json()
        return bool(check(body))

    try:
        await eventually(reached, timeout_s, f"member {customer} in the expected state")
    except AssertionError as exc:
        raise AssertionError(f"{exc}; last seen: {body}") from None
    return body


def customer() -> str:
    return f"M-{uuid.uuid4().hex[:10]}"


async def test_purchases_earn_points_and_upgrade_the_tier_with_changes_on_the_topic(
    loyalty, producer, kafka_settings
):
    who = customer()
    await send(producer, kafka_settings, [purchase(who, "1000.50"), purchase(who, "9500.00")])
    # 1000 (bronze) + 9500 (still bronze when earned) = 10500 points; spend 10500.50 → silver
    body = await member_when(loyalty, who, lambda b: b["balance"] == 10500)
    assert body["tier"] == "silver"
    assert body["qualifying_spend"] == "10500.50"
    assert body["progress"] == {"next_tier": "gold", "spend_needed": "39499.50"}
    assert "free standard delivery" in body["benefits"]
    await send(producer, kafka_settings, [purchase(who, "1000")])
    assert (await member_when(loyalty, who, lambda b: b["balance"] == 11700))["tier"] == "silver"

    changes = await read_exactly(
        kafka_settings.bootstrap_servers, spec_topic(LOYALTY_CHANGES, kafka_settings), 4
    )
    kinds = [json.loads(r.value)["type"] for r in changes]
    assert kinds.count("points_earned") == 3
    assert kinds.count("tier_changed") == 1
    assert all(r.key == who.encode() for r in changes)


async def test_qualifying_spend_is_the_last_12_months_however_old_the_orders_and_batches(
    loyalty, producer, kafka_settings
):
    who = customer()
    await send(producer, kafka_settings, [purchase(who, "5000", at=TUESDAY - timedelta(days=600))])
    await member_when(loyalty, who, lambda b: b["balance"] == 5000)
    # 400 days later: the first order no longer counts and its lot has expired.
    await send(producer, kafka_settings, [purchase(who, "6000", at=TUESDAY - timedelta(days=200))])
    await member_when(loyalty, who, lambda b: b["balance"] == 6000 and b["tier"] == "bronze")
    # One batch: the 200-day-old order is inside both events' windows: 6000 + 3000 stays bronze, the next
    # 1500 crosses 10,000.
    await send(
        producer,
        kafka_settings,
        [purchase(who, "3000"), purchase(who, "1500", at=TUESDAY + timedelta(hours=1))],
    )
    body = await member_when(loyalty, who, lambda b: b["balance"] == 10500)
    assert body["tier"] == "silver"
    changes = await read_exactly(
        kafka_settings.bootstrap_servers, spec_topic(LOYALTY_CHANGES, kafka_settings), 6
    )
    upgrades = [
        json.loads(r.value)["payload"] for r in changes if json.loads(r.value)["type"] == "tier_changed"
    ]
    assert [(u["to_tier"], u["qualifying_spend"]) for u in upgrades] == [("silver", "10500.00")]
    expired = [
        json.loads(r.value)["payload"] for r in changes if json.loads(r.value)["type"] == "points_expired"
    ]
    assert [e["points"] for e in expired] == [-5000]


async def test_wednesday_doubles_points(loyalty, producer, kafka_settings):
    wednesday, tuesday = customer(), customer()
    await send(
        producer,
        kafka_settings,
        [purchase(wednesday, "100", at=TUESDAY + timedelta(days=1)), purchase(tuesday, "100", at=TUESDAY)],
    )
    doubled = await member_when(loyalty, wednesday, lambda b: b["balance"] > 0)
    plain = await member_when(loyalty, tuesday, lambda b: b["balance"] > 0)
    assert (doubled["balance"], plain["balance"]) == (200, 100)


async def test_refund_claws_back_what_the_order_earned(loyalty, producer, kafka_settings):
    who = customer()
    await send(
        producer, kafka_settings, [purchase(who, "500", order="O-1"), purchase(who, "300", order="O-2")]
    )
    await member_when(loyalty, who, lambda b: b["balance"] == 800)
    refund = event("refund", who, TUESDAY + timedelta(hours=1), order_id="O-1", customer_id=who, amount="250")
    await send(producer, kafka_settings, [refund])
    body = await member_when(loyalty, who, lambda b: b["balance"] == 550)
    assert body["qualifying_spend"] == "550.00"


async def test_rewards_for_referral_survey_and_feedback_within_caps(
    loyalty, producer, kafka_settings, loyalty_group
):
    referrer, referee = customer(), customer()
    await send(
        producer,
        kafka_settings,
        [
            event("referral", referrer, referrer_id=referrer, referee_id=referee),
            event("survey_completed", referrer, customer_id=referrer, survey_id="nps-q4"),
        ],
    )
    await member_when(loyalty, referrer, lambda b: b["balance"] == 550)
    await member_when(loyalty, referee, lambda b: b["balance"] == 200)
    # feedback_submitted: 10 points, at most once a day
    two_feedbacks = [feedback_received(referrer), feedback_received(referrer)]
    for doc in two_feedbacks:
        doc["occurred_at"] = TUESDAY.isoformat()
    await send(producer, kafka_settings, two_feedbacks, spec=FEEDBACK_RECEIVED)
    await member_when(loyalty, referrer, lambda b: b["balance"] == 560)
    feedback_topic = spec_topic(FEEDBACK_RECEIVED, kafka_settings)
    await wait_caught_up(kafka_settings.bootstrap_servers, loyalty_group, [feedback_topic])
    assert (await loyalty.get(f"/v1/members/{referrer}", headers=READER)).json()["balance"] == 560


def resolved_complaint(who: str, status: str = "resolved") -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((EXAMPLES / "alerts.v1" / f"alert.{status}.json").read_text())
    alert_id = str(uuid.uuid4())
    doc.update(event_id=str(uuid.uuid4()), key=alert_id, occurred_at=TUESDAY.isoformat())
    doc["payload"].update(alert_id=alert_id, customer_id=who, status=status, at=TUESDAY.isoformat())
    return doc


async def test_resolved_complaints_earn_goodwill_points_within_the_monthly_cap(
    loyalty, producer, kafka_settings, loyalty_group
):
    who = customer()
    # complaint_resolved_goodwill: 100 points, at most twice a month; only a resolution counts
    docs = [resolved_complaint(who, "acknowledged"), *(resolved_complaint(who) for _ in range(3))]
    await send(producer, kafka_settings, docs, spec=ALERTS)
    await member_when(loyalty, who, lambda b: b["balance"] == 200)
    alerts = spec_topic(ALERTS, kafka_settings)
    await wait_caught_up(kafka_settings.bootstrap_servers, loyalty_group, [alerts])
    assert (await loyalty.get(f"/v1/members/{who}", headers=READER)).json()["balance"] == 200
    ledger = (await loyalty.get(f"/v1/members/{who}/ledger", headers=READER)).json()["entries"]
    assert [e["points"] for e in ledger] == [100, 100]


async def test_redelivery_and_replay_never_apply_twice(kafka_settings, producer, loyalty):
    who = customer()
    docs = [purchase(who, "100"), purchase(who, "200")]
    await send(producer, kafka_settings, docs + docs)  # redelivered
    await member_when(loyalty, who, lambda b: b["balance"] == 300)
    # Replay the whole topic with a brand-new consumer group: nothing changes.
    replay = f"replay-{uuid.uuid4().hex[:8]}"
    app = create_app(LoyaltySettings(kafka=kafka_settings, consumer_group=replay, relay_outbox=False))
    async with app.router.lifespan_context(app):
        commerce = spec_topic(COMMERCE_EVENTS, kafka_settings)
        await wait_caught_up(kafka_settings.bootstrap_servers, replay, [commerce], timeout_s=60)
    assert (await loyalty.get(f"/v1/members/{who}", headers=READER)).json()["balance"] == 300
    ledger = (await loyalty.get(f"/v1/members/{who}/ledger", headers=READER)).json()["entries"]
    assert [e["points"] for e in ledger] == [200, 100]


async def test_redemptions_are_idempotent_refuse_overdraw_and_never_overdraw_concurrently(
    loyalty, producer, kafka_settings
):
    who = customer()
    await send(producer, kafka_settings, [purchase(who, "500")])
    await member_when(loyalty, who, lambda b: b["balance"] == 500)
    url = f"/v1/members/{who}/redemptions"
    assert (await loyalty.post(url, json={"points": 100, "reference": "r0"})).status_code == 401
    first = await loyalty.post(url, json={"points": 100, "reference": "r1"}, headers=OPERATOR)
    assert (first.status_code, first.json()["balance"]) == (201, 400)
    again = await loyalty.post(url, json={"points": 100, "reference": "r1"}, headers=OPERATOR)
    assert (again.status_code, again.json()["status"]) == (200, "duplicate")
    too_much = await loyalty.post(url, json={"points": 401, "reference": "r2"}, headers=OPERATOR)
    assert too_much.status_code == 409

    attempts = [
        loyalty.post(url, json={"points": 100, "reference": f"c{i}"}, headers=OPERATOR) for i in range(8)
    ]
    codes = sorted(r.status_code for r in await asyncio.gather(*attempts))
    assert codes == [201] * 4 + [409] * 4
    assert (await loyalty.get(f"/v1/members/{who}", headers=READER)).json()["balance"] == 0

    reversal = await loyalty.post(f"{url}/r1/reversal", headers=OPERATOR)
    assert (reversal.json()["restored"], reversal.json()["balance"]) == (100, 100)
    twice = await loyalty.post(f"{url}/r1/reversal", headers=OPERATOR)
    assert twice.json()["status"] == "already_reversed"
    assert (await loyalty.get(f"/v1/members/{who}", headers=READER)).json()["balance"] == 100


async def test_member_data_needs_a_key_and_only_the_operator_key_writes(loyalty, producer, kafka_settings):
    who = customer()
    await send(producer, kafka_settings, [purchase(who, "300")])
    await member_when(loyalty, who, lambda b: b["balance"] == 300)
    for path in (f"/v1/members/{who}", f"/v1/members/{who}/ledger"):
        assert (await loyalty.get(path)).status_code == 401, path
        assert (await loyalty.get(path, headers={"X-API-Key": "guess"})).status_code == 401, path
        for key in (READER, OPERATOR):
            assert (await loyalty.get(path, headers=key)).status_code == 200, (path, key)
    read_only = await loyalty.post(
        f"/v1/members/{who}/redemptions", json={"points": 1, "reference": "r"}, headers=READER
    )
    assert read_only.status_code == 403
    assert (await loyalty.get("/v1/tiers")).status_code == 401, "only health, metrics and docs are open"


async def test_ledger_pages_with_a_cursor_and_tiers_are_listed(loyalty, producer, kafka_settings):
    who = customer()
    await send(producer, kafka_settings, [purchase(who, str(amount)) for amount in range(1, 6)])
    await member_when(loyalty, who, lambda b: b["balance"] == 15)
    first = (await loyalty.get(f"/v1/members/{who}/ledger", params={"limit": 3}, headers=READER)).json()
    rest = (
        await loyalty.get(
            f"/v1/members/{who}/ledger", params={"limit": 3, "cursor": first["next_cursor"]}, headers=READER
        )
    ).json()
    assert [e["points"] for e in first["entries"] + rest["entries"]] == [5, 4, 3, 2, 1]
    tiers = (await loyalty.get("/v1/tiers", headers=READER)).json()
    assert [t["name"] for t in tiers] == ["bronze", "silver", "gold", "diamond"]
    assert (await loyalty.get("/v1/members/nobody-here", headers=READER)).status_code == 404


def metric(text: str, name: str, label: str) -> float:
    for line in text.splitlines():
        if line.startswith(f"{name}{{{label}}} "):
            return float(line.split()[-1])
    return 0.0


async def test_points_issued_and_members_by_tier_are_exported(loyalty, producer, kafka_settings, monkeypatch):
    from services.loyalty import outbox

    monkeypatch.setattr(outbox, "TIER_REFRESH_S", 0.0)
    before = metric((await loyalty.get("/metrics")).text, "loyalty_points_total", 'kind="issued"')
    who = customer()
    await send(producer, kafka_settings, [purchase(who, "300")])
    await member_when(loyalty, who, lambda b: b["balance"] == 300)
    text = ""

    async def points_counted() -> bool:
        nonlocal text
        text = (await loyalty.get("/metrics")).text
        return metric(text, "loyalty_points_total", 'kind="issued"') >= before + 300

    await eventually(points_counted, 10.0, "the 300 issued points counted")
    assert metric(text, "loyalty_points_total", 'kind="issued"') >= before + 300
    assert metric(text, "loyalty_members", 'tier="bronze"') >= 1


async def test_text_the_database_cannot_store_is_a_422_not_a_500(loyalty):
    """Found by the OpenAPI fuzz test: a NUL character reached PostgreSQL (which refuses it) as a 500."""
    url = f"/v1/members/{customer()}/redemptions"
    response = await loyalty.post(url, json={"points": 1, "reference": "\x00"}, headers=OPERATOR)
    assert response.status_code == 422
    assert "NUL" in response.json()["detail"][0]["message"]
