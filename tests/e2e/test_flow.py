"""The whole platform over HTTP and Kafka: four real service processes, the real broker and database, and a
webhook sink standing in for on-call staff."""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from scripts.harness import OPERATOR_KEY, Platform
from services.alerting.delivery.channels import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign
from services.loyalty.rules import load_rules
from shared.contracts.registry import FEEDBACK_SCORED, LOYALTY_CHANGES
from tests.e2e.flow import (
    COMPLAINT,
    PRAISE,
    customer,
    envelopes,
    feedback,
    last_tuesday,
    post_event,
    post_feedback,
    purchase,
    until,
)
from tests.integration.alerting_helpers import Receiver

pytestmark = pytest.mark.integration


async def alerts_about(
    http: httpx.AsyncClient, platform: Platform, rule: str, customer_id: str | None = None
) -> list[dict[str, Any]]:
    params = {"rule": rule + platform.rule_suffix, **({"customer": customer_id} if customer_id else {})}
    response = await http.get(f"{platform.url('alerting')}/v1/alerts", params=params, headers=OPERATOR_KEY)
    assert response.status_code == 200, response.text
    return list(response.json()["alerts"])


async def alert(http: httpx.AsyncClient, platform: Platform, alert_id: str) -> dict[str, Any]:
    response = await http.get(f"{platform.url('alerting')}/v1/alerts/{alert_id}", headers=OPERATOR_KEY)
    assert response.status_code == 200, response.text
    return dict(response.json())


async def member(http: httpx.AsyncClient, platform: Platform, customer_id: str) -> dict[str, Any] | None:
    response = await http.get(f"{platform.url('loyalty')}/v1/members/{customer_id}", headers=OPERATOR_KEY)
    return dict(response.json()) if response.status_code == 200 else None


def pages_for(sink: Receiver, alert_id: str) -> list[tuple[str, str]]:
    """(transition, level) of every webhook the sink received about the alert."""
    return [
        (p["transition"], p["alert"]["level"]) for p in sink.payloads() if p["alert"]["alert_id"] == alert_id
    ]


async def test_negative_feedback_is_scored_alerted_paged_and_ack_stops_escalation(
    platform: Platform, sink: Receiver, http: httpx.AsyncClient
):
    who = customer()
    feedback_id = await post_feedback(http, platform, feedback(who, COMPLAINT))

    scored = await envelopes(
        platform.kafka.bootstrap_servers,
        platform.topic(FEEDBACK_SCORED.name),
        lambda found: any(e["payload"]["feedback_id"] == feedback_id for e in found),
    )
    (payload,) = [e["payload"] for e in scored if e["payload"]["feedback_id"] == feedback_id]
    assert payload["stars"] <= 2
    assert payload["label"] == "negative"

    (fired,) = await until(lambda: alerts_about(http, platform, "one-star-feedback", who), what="the alert")
    assert fired["level"] == "L1"
    assert fired["next_escalation_at"] is not None
    await until(lambda: _async(pages_for(sink, fired["id"])), what="the webhook")
    request = next(r for r in sink.requests if fired["id"].encode() in r["body"])
    stamp = request["headers"][TIMESTAMP_HEADER]
    assert request["headers"][SIGNATURE_HEADER] == sign("dev-webhook-secret", stamp, request["body"])
    assert (
        feedback_id
        in next(p for p in sink.payloads() if p["alert"]["alert_id"] == fired["id"])["alert"]["feedback_ids"]
    )

    acked = await http.post(
        f"{platform.url('alerting')}/v1/alerts/{fired['id']}/ack",
        json={"actor": "agent-wang", "note": "calling back"},
        headers=OPERATOR_KEY,
    )
    assert acked.status_code == 200, acked.text
    body = await alert(http, platform, fired["id"])
    assert body["status"] == "acknowledged"
    assert body["next_escalation_at"] is None
    assert body["next_action"] in ("remind", "ack_timeout")
    assert body["timeline"][0]["kind"] == "fired"
    assert "acknowledged" in [e["kind"] for e in body["timeline"]]
    assert Counter(pages_for(sink, fired["id"]))[("fired", "L1")] == 1


async def test_one_star_chinese_complaint_from_a_diamond_member_starts_at_l2(
    platform: Platform, http: httpx.AsyncClient, database
):
    who = customer("VIP")
    await post_event(http, platform, purchase(who, "100000.00", last_tuesday()))
    body = await until(
        lambda: _when(member(http, platform, who), lambda m: m["tier"] == "diamond"), what="diamond tier"
    )
    assert body["balance"] == 100_000  # earned at bronze (×1), the upgrade follows the purchase

    async def alerting_tier() -> str | None:
        async with database.connection() as conn:
            query = text("SELECT tier FROM alerting.member_tiers WHERE customer_id = :c")
            return (await conn.execute(query, {"c": who})).scalar_one_or_none()  # type: ignore[no-any-return]

    assert await until(alerting_tier, what="alerting hears of the tier") == "diamond"
    await post_feedback(http, platform, feedback(who, COMPLAINT, stars=1))
    (fired,) = await until(lambda: alerts_about(http, platform, "one-star-feedback", who), what="the alert")
    assert fired["level"] == "L2"
    detail = await alert(http, platform, fired["id"])
    assert detail["member_tier"] == "diamond"
    # diamond halves the timeouts: L2 → L3 after 12 h instead of 24 h
    hours = (_at(detail["next_escalation_at"]) - _at(detail["created_at"])).total_seconds() / 3600
    assert 11.9 < hours <= 12.0


async def test_rust_mentioned_more_than_five_times_in_24h_fires_once_for_its_business_line(
    platform: Platform, sink: Receiver, http: httpx.AsyncClient
):
    line = f"kitchen-{customer('L')}"
    customers = [customer() for _ in range(8)]
    for i, who in enumerate(customers):
        await post_feedback(
            http, platform, feedback(who, f"刀具生锈了，第{i + 1}次，非常失望", business_line=line)
        )

    async def every_complaint_handled() -> bool:
        paged = {a["customer_id"] for a in await alerts_about(http, platform, "one-star-feedback")}
        return set(customers) <= paged

    # Each complaint also opens a one-star alert: once all eight have one, alerting has seen all eight.
    await until(every_complaint_handled, what="all eight complaints through alerting")
    rust = [
        a
        for a in await alerts_about(http, platform, "rust-mentions")
        if a["group_key"] == {"business_line": line}
    ]
    assert len(rust) == 1
    assert rust[0]["level"] == "L2"
    await until(lambda: _async(pages_for(sink, rust[0]["id"])), what="the rust page")
    assert Counter(pages_for(sink, rust[0]["id"]))[("fired", "L2")] == 1


async def test_purchases_earn_points_and_a_tier_feedback_earns_its_reward_and_points_are_redeemed(
    platform: Platform, http: httpx.AsyncClient
):
    rules = load_rules()
    who, at = customer("M"), last_tuesday()
    await post_event(http, platform, purchase(who, "6000.00", at))
    await post_event(http, platform, purchase(who, "5000.00", at))
    body = await until(
        lambda: _when(member(http, platform, who), lambda m: m["balance"] == 11_000), what="11,000 points"
    )
    assert body["tier"] == "silver"
    reward = rules.rewards.feedback_submitted.points
    for text_ in (PRAISE, COMPLAINT):  # the daily cap is 1: the second one earns nothing
        await post_feedback(http, platform, feedback(who, text_, occurred_at=at.isoformat()))
    await until(
        lambda: _when(member(http, platform, who), lambda m: m["balance"] == 11_000 + reward),
        what="the feedback reward",
    )

    redeem = {"points": 1000, "reference": f"R-{who}"}
    url = f"{platform.url('loyalty')}/v1/members/{who}/redemptions"
    first = await http.post(url, json=redeem, headers=OPERATOR_KEY)
    again = await http.post(url, json=redeem, headers=OPERATOR_KEY)
    assert first.status_code in (200, 201), first.text
    assert again.status_code in (200, 201), again.text
    body = await until(lambda: member(http, platform, who), what="the member")
    assert body["balance"] == 10_000 + reward

    changes = await envelopes(
        platform.kafka.bootstrap_servers,
        platform.topic(LOYALTY_CHANGES.name),
        lambda found: Counter(e["type"] for e in found if e["key"] == who)["points_redeemed"] >= 1,
    )
    kinds = Counter(e["type"] for e in changes if e["key"] == who)
    assert kinds["points_earned"] == 3  # two purchases and one feedback reward
    assert kinds["tier_changed"] == 1
    assert kinds["points_redeemed"] == 1
    upgrade = next(e["payload"] for e in changes if e["key"] == who and e["type"] == "tier_changed")
    assert upgrade["to_tier"] == "silver"


async def _async(value: Any) -> Any:
    return value


async def _when(awaitable: Any, check: Any) -> Any:
    found = await awaitable
    return found if found and check(found) else None


def _at(value: str) -> datetime:
    return datetime.fromisoformat(value)
