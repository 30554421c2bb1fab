"""Commerce rules over the real broker and database: refunds per business line (attributed through their
orders), and a gold member's orders dropping against their own baseline; the windows survive a restart."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from shared.contracts.registry import COMMERCE_EVENTS, LOYALTY_CHANGES
from tests.integration.alerting_helpers import Clock, alerting_app, rules_file
from tests.integration.helpers import eventually
from tests.integration.test_alerting import alerts_of, rows_of, send, tier_doc

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("topics")]
EXAMPLES = Path("shared/contracts/examples/commerce.events.v1")
START = datetime(2026, 11, 3, tzinfo=UTC)
"""A 30-day window's sixths (5-day buckets) are counted from the Unix epoch: this is where one begins."""


def commerce_doc(kind: str, customer: str, at: datetime, **payload: Any) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((EXAMPLES / f"{kind}.json").read_text())
    doc["event_id"], doc["key"], doc["occurred_at"] = str(uuid.uuid4()), customer, at.isoformat()
    doc["payload"].pop("business_line", None)  # only where the test names one
    doc["payload"].update(external_id=str(uuid.uuid4()), customer_id=customer, **payload)
    if kind == "purchase":
        doc["payload"]["occurred_at"] = at.isoformat()
    return doc


async def test_refunds_count_for_their_orders_line_and_a_high_rate_opens_an_l2_case(
    kafka_settings, producer, tmp_path, receiver
):
    clock = Clock()
    rules, suffix = rules_file(tmp_path, receiver.url)
    rule = f"refund-rate-by-business-line-{suffix}"
    line, other = f"家电-{suffix}", f"toys-{suffix}"
    t0 = datetime(2026, 11, 20, 8, tzinfo=UTC)
    orders = [f"O-{suffix}-{i}" for i in range(60)]
    purchases = [
        commerce_doc("purchase", f"C-{i}", t0 + timedelta(minutes=i), order_id=o, business_line=line)
        for i, o in enumerate(orders)
    ] + [
        commerce_doc(
            "purchase", f"D-{i}", t0 + timedelta(minutes=i), order_id=f"P-{suffix}-{i}", business_line=other
        )
        for i in range(60)
    ]
    # refunds of the first line's orders, naming no line of their own: 7 of 60 orders (11.7 %) > 10 %
    refunds = [
        commerce_doc("refund", f"C-{i}", t0 + timedelta(hours=2, minutes=i), order_id=orders[i])
        for i in range(7)
    ]
    # 3 of the other line's 60 (5 %), named on the refund itself; and one whose order was never seen
    refunds += [
        commerce_doc(
            "refund", f"D-{i}", t0 + timedelta(hours=2), order_id=f"P-{suffix}-{i}", business_line=other
        )
        for i in range(3)
    ] + [commerce_doc("refund", "X-1", t0 + timedelta(hours=2), order_id=f"unknown-{suffix}")]
    async with alerting_app(kafka_settings, rules, clock) as (_, http):
        await send(producer, kafka_settings, purchases, COMMERCE_EVENTS)
        await send(producer, kafka_settings, refunds, COMMERCE_EVENTS)
        (alert,) = await alerts_of(http, rule, 1)
        assert alert["group_key"] == {"business_line": line}
        assert alert["level"] == "L2"
        assert alert["value"] == pytest.approx(7 / 60)
        remembered = await rows_of(
            "SELECT business_line FROM alerting.orders WHERE order_id = ANY(:ids)", ids=orders[:3]
        )
        assert [r["business_line"] for r in remembered] == [line] * 3

        def pages() -> list[dict[str, Any]]:
            return [p for p in receiver.payloads() if p["alert"]["alert_id"] == alert["id"]]

        await eventually(lambda: bool(pages()), what="the refund-rate page")
        assert pages()[0]["alert"]["level"] == "L2"
    assert not [a for a in await alerts_after(rule) if a["group_text"] != f"business_line={line}"]


async def alerts_after(rule: str) -> list[dict[str, Any]]:
    return await rows_of("SELECT group_text FROM alerting.alerts WHERE rule_id = :rule", rule=rule)


def _monthly(customer: str, per_window: list[int]) -> list[dict[str, Any]]:
    docs = []
    for window, count in enumerate(per_window):
        for i in range(count):
            at = START + timedelta(days=30 * window + (i + 0.5) * 30 / count)
            docs.append(commerce_doc("purchase", customer, at, order_id=f"{customer}-{window}-{i}"))
    return docs


async def test_a_gold_members_orders_falling_below_their_baseline_open_a_case_even_across_a_restart(
    kafka_settings, producer, tmp_path, receiver
):
    clock = Clock()
    rules, suffix = rules_file(tmp_path, receiver.url)
    rule = f"vip-orders-drop-{suffix}"
    gold, steady = f"G-{suffix}", f"S-{suffix}"
    group = f"alerting-{uuid.uuid4().hex[:8]}"
    async with alerting_app(kafka_settings, rules, clock, consumer_group=group) as (app, _):
        state = app.state.alerting_state
        await send(
            producer, kafka_settings, [tier_doc(gold, "gold"), tier_doc(steady, "diamond")], LOYALTY_CHANGES
        )
        await eventually(lambda: state.tiers.get(steady) == "diamond", what="the tiers heard")
        history = sorted(
            _monthly(gold, [6, 6, 6]) + _monthly(steady, [4, 4, 4, 4]), key=lambda d: d["occurred_at"]
        )
        await send(producer, kafka_settings, history, COMMERCE_EVENTS)

        async def caught_up() -> bool:
            rows = await rows_of("SELECT value FROM alerting.engine_state WHERE name = :n", n=rule)
            return bool(rows) and rows[0]["value"] >= (START + timedelta(days=115)).timestamp()

        await eventually(caught_up, what="the history counted")
    # a new process on the same consumer group restores the windows from the database
    async with alerting_app(kafka_settings, rules, clock, consumer_group=group) as (_, http):
        late = _monthly(gold, [6, 6, 6, 2])[-2:]  # two orders in the fourth month
        tick = commerce_doc(
            "purchase", f"N-{suffix}", START + timedelta(days=120, hours=1), order_id=f"T-{suffix}"
        )
        await send(producer, kafka_settings, [*late, tick], COMMERCE_EVENTS)
        (alert,) = await alerts_of(http, rule, 1)
        assert alert["group_key"] == {"customer_id": gold}
        assert alert["customer_id"] == gold
        assert alert["level"] == "L1"
        assert alert["value"] == 2
