"""Replaying loyalty's input topics, twice, under new consumer groups changes nothing: same balances, tiers,
ledgers and lots, and the ledger invariants hold on the real database."""

from __future__ import annotations

import random
import uuid
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import text

from services.loyalty.app import create_app
from services.loyalty.config import LoyaltySettings
from shared.contracts.registry import COMMERCE_EVENTS, FEEDBACK_RECEIVED, LOYALTY_CHANGES
from shared.settings import KafkaSettings
from tests.conftest import spec_topic
from tests.integration.helpers import feedback_received
from tests.integration.test_loyalty import TUESDAY, event, purchase, send
from tests.support.kafka import wait_caught_up

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("topics")]


def mixed_history(seed: int, members: list[str]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Purchases (some large enough to upgrade), partial and full refunds, referrals, surveys and feedback
    over three weeks, with redelivered duplicates: (commerce events, feedback events)."""
    rng = random.Random(seed)
    commerce: list[dict[str, Any]] = []
    feedback: list[dict[str, Any]] = []
    orders: list[tuple[str, str, int]] = []
    for step in range(160):
        at = TUESDAY - timedelta(days=21) + timedelta(hours=3 * step)
        who = rng.choice(members)
        roll = rng.random()
        if roll < 0.5:
            amount = rng.choice([35, 120, 999, 4800, 12000])
            order = f"O-{seed}-{step}"
            orders.append((who, order, amount))
            commerce.append(purchase(who, str(amount), order=order, at=at))
        elif roll < 0.65 and orders:
            buyer, order, amount = rng.choice(orders)
            refunded = rng.choice([amount, amount // 2 + 1])
            commerce.append(
                event("refund", buyer, at, order_id=order, customer_id=buyer, amount=str(refunded))
            )
        elif roll < 0.75:
            friend = rng.choice([m for m in members if m != who])
            commerce.append(event("referral", who, at, referrer_id=who, referee_id=friend))
        elif roll < 0.85:
            commerce.append(event("survey_completed", who, at, customer_id=who, survey_id=f"s{step % 4}"))
        else:
            doc = feedback_received(who)
            doc["occurred_at"] = at.isoformat()
            feedback.append(doc)
        if rng.random() < 0.1 and commerce:
            commerce.append(rng.choice(commerce))  # redelivered as-is
    return commerce, feedback


async def caught_up(settings: KafkaSettings, group: str, timeout_s: float = 60) -> None:
    """Wait until `group` has committed every record of loyalty's input topics."""
    topics = [spec_topic(spec, settings) for spec in (COMMERCE_EVENTS, FEEDBACK_RECEIVED)]
    await wait_caught_up(settings.bootstrap_servers, group, topics, timeout_s)


async def snapshot(database, members: list[str]) -> dict[str, Any]:
    async with database.connection() as conn:
        params = {"ids": members}
        return {
            "members": sorted(
                await conn.execute(
                    text(
                        "SELECT customer_id, tier, balance FROM loyalty.members WHERE customer_id = ANY(:ids)"
                    ),
                    params,
                )
            ),
            "ledger": list(
                await conn.execute(
                    text(
                        "SELECT customer_id, kind, points, balance_after, source FROM loyalty.ledger"
                        " WHERE customer_id = ANY(:ids) ORDER BY customer_id, entry_id"
                    ),
                    params,
                )
            ),
            "lots": sorted(
                await conn.execute(
                    text(
                        "SELECT customer_id, lot_id, points, remaining FROM loyalty.lots"
                        " WHERE customer_id = ANY(:ids)"
                    ),
                    params,
                )
            ),
        }


async def run_once(settings: KafkaSettings) -> None:
    group = f"replay-{uuid.uuid4().hex[:8]}"
    app = create_app(LoyaltySettings(kafka=settings, consumer_group=group, relay_outbox=False))
    async with app.router.lifespan_context(app):
        await caught_up(settings, group)


async def test_replaying_the_input_topics_twice_yields_identical_balances_and_ledgers(
    kafka_settings, producer, database
):
    members = [f"R-{uuid.uuid4().hex[:8]}" for _ in range(6)]
    commerce, feedback = mixed_history(seed=20261123, members=members)
    await send(producer, kafka_settings, commerce)
    await send(producer, kafka_settings, feedback, spec=FEEDBACK_RECEIVED)
    try:
        await run_once(kafka_settings)
        first = await snapshot(database, members)
        await run_once(kafka_settings)
        await run_once(kafka_settings)
        assert await snapshot(database, members) == first
    finally:
        async with database.connection() as conn:
            await conn.execute(
                text("DELETE FROM loyalty.outbox WHERE topic = :t"),
                {"t": spec_topic(LOYALTY_CHANGES, kafka_settings)},
            )

    assert len(first["members"]) == len(members)
    assert {kind for _, kind, *_ in first["ledger"]} >= {"earned", "clawed_back"}
    assert any(tier != "bronze" for _, tier, _ in first["members"]), "the history upgrades someone"
    for customer, _, balance in first["members"]:
        entries = [row for row in first["ledger"] if row[0] == customer]
        assert balance == sum(points for _, _, points, _, _ in entries) >= 0
        assert [after for *_, after, _ in entries] == [
            sum(points for _, _, points, _, _ in entries[: i + 1]) for i in range(len(entries))
        ]
        assert balance == sum(remaining for c, _, _, remaining in first["lots"] if c == customer)
        assert len({source for *_, source in entries if not source.startswith("expiry:")}) == len(
            [e for e in entries if not e[4].startswith("expiry:")]
        ), "no source applied twice"
