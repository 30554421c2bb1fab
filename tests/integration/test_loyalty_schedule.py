"""Expiry, reminders and tier downgrades with a virtual clock (the operator schedule endpoint)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from tests.integration.test_loyalty import OPERATOR, READER, customer, member_when, purchase, send

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("topics")]


async def schedule(http, at: datetime, tiers: bool = False) -> dict[str, int]:
    response = await http.post(
        "/v1/ops/schedule", params={"at": at.isoformat(), "tiers": tiers}, headers=OPERATOR
    )
    assert response.status_code == 200, response.text
    report: dict[str, int] = response.json()
    return report


async def outbox_types(database, who: str) -> list[str]:
    async with database.connection() as conn:
        rows = await conn.execute(
            text("SELECT event_type FROM loyalty.outbox WHERE key = :k ORDER BY id"), {"k": who}
        )
        return [r[0] for r in rows]


async def test_points_expire_after_12_months_with_reminders_30_15_3_days_ahead(
    loyalty, producer, kafka_settings, database
):
    who = customer()
    earned_at = datetime(2025, 1, 10, 12, 0, tzinfo=UTC)
    await send(producer, kafka_settings, [purchase(who, "100", at=earned_at)])
    await member_when(loyalty, who, lambda b: b["balance"] == 100)
    expires = datetime(2026, 1, 10, 12, 0, tzinfo=UTC)
    for days in (30, 15, 3):
        await schedule(loyalty, expires - timedelta(days=days))
        await schedule(loyalty, expires - timedelta(days=days))  # twice: still one reminder
    await schedule(loyalty, expires - timedelta(days=20))  # no reminder due that day
    assert (await outbox_types(database, who)).count("expiry_reminder") == 3
    assert (await loyalty.get(f"/v1/members/{who}", headers=READER)).json()["balance"] == 100
    report = await schedule(loyalty, expires + timedelta(minutes=1))
    assert report["expired_members"] >= 1
    body = (await loyalty.get(f"/v1/members/{who}", headers=READER)).json()
    assert body["balance"] == 0
    ledger = (await loyalty.get(f"/v1/members/{who}/ledger", headers=READER)).json()["entries"]
    assert [(e["kind"], e["points"]) for e in ledger] == [("expired", -100), ("earned", 100)]
    assert (await outbox_types(database, who)).count("points_expired") == 1


async def test_downgrade_is_warned_30_days_ahead_and_drops_one_level(
    loyalty, producer, kafka_settings, database
):
    who = customer()
    bought = datetime(2025, 3, 1, 10, 0, tzinfo=UTC)
    await send(producer, kafka_settings, [purchase(who, "120000", at=bought)])
    assert (await member_when(loyalty, who, lambda b: b["balance"] > 0))["tier"] == "diamond"
    evaluation = bought + timedelta(days=400)  # the spend has left the 12-month window
    await schedule(loyalty, evaluation, tiers=True)
    body = (await loyalty.get(f"/v1/members/{who}", headers=READER)).json()
    assert (body["tier"], body["downgrade_warning_at"] is not None) == ("diamond", True)
    await schedule(loyalty, evaluation + timedelta(days=29), tiers=True)
    assert (await loyalty.get(f"/v1/members/{who}", headers=READER)).json()["tier"] == "diamond"
    await schedule(loyalty, evaluation + timedelta(days=30), tiers=True)
    assert (await loyalty.get(f"/v1/members/{who}", headers=READER)).json()["tier"] == "gold", (
        "one level at a time"
    )
    kinds = await outbox_types(database, who)
    assert kinds.count("tier_downgrade_warning") == 1
    assert kinds.count("tier_changed") == 2  # the upgrade, then the downgrade
