"""Member reads and redemptions against the database: what the routes call (one SQL idiom, Core text).

Redemption and its reversal lock the member (`repository.load`) before the redemption row, in that order
in both, so concurrent calls serialise on the member and never deadlock.
"""

import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from services.loyalty.apply import MemberState, expire_due, record_entry
from services.loyalty.ledger import Draw, Entry, InsufficientPoints
from services.loyalty.repository import load, save
from services.loyalty.rules import LoyaltyRules
from services.loyalty.schemas import (
    LedgerEntryOut,
    LedgerPage,
    MemberOut,
    Progress,
    RedemptionOut,
    ReversalOut,
)
from services.loyalty.tiers import CENTS, progress, qualifying_spend

NEWEST = 2**62
"""The ledger cursor of the first page: above every entry id."""

_MEMBER = text(
    "SELECT tier, balance, tier_since, downgrade_warned_at FROM loyalty.members WHERE customer_id = :c"
)
_EXPIRING = text("""
    SELECT coalesce(sum(remaining), 0) FROM loyalty.lots
    WHERE customer_id = :c AND remaining > 0
      AND expires_at > now() AND expires_at <= now() + interval '30 days'
""")
_SPEND = text(
    "SELECT at, amount - refunded FROM loyalty.orders "
    "WHERE customer_id = :c AND at > now() - interval '366 days'"
)
_LEDGER = text("""
    SELECT entry_id, kind, points, balance_after, source, reason, at FROM loyalty.ledger
    WHERE customer_id = :c AND entry_id < :cursor ORDER BY entry_id DESC LIMIT :limit
""")
_REDEMPTION = text("""
    SELECT points, draws, reversed_at FROM loyalty.redemptions
    WHERE customer_id = :c AND reference = :r FOR UPDATE
""")
_REDEMPTION_PEEK = text("SELECT draws FROM loyalty.redemptions WHERE customer_id = :c AND reference = :r")
_SAVE_REDEMPTION = text("""
    INSERT INTO loyalty.redemptions (customer_id, reference, points, draws, at)
    VALUES (:c, :r, :p, CAST(:d AS jsonb), :a)
""")
_REVERSED = text("UPDATE loyalty.redemptions SET reversed_at = :a WHERE customer_id = :c AND reference = :r")


class NotFound(LookupError):
    """No such member or redemption (the message names it)."""


class Conflict(ValueError):
    """The request contradicts what is recorded: a reference reused for other points, or too few points."""


async def member_summary(conn: AsyncConnection, customer_id: str, rules: LoyaltyRules) -> MemberOut:
    row = (await conn.execute(_MEMBER, {"c": customer_id})).first()
    if row is None:
        raise NotFound(f"no member {customer_id!r}")
    expiring = (await conn.execute(_EXPIRING, {"c": customer_id})).scalar_one()
    movements = [(at, amount) for at, amount in await conn.execute(_SPEND, {"c": customer_id})]
    tier, balance, tier_since, warned = row
    spend = qualifying_spend(movements, datetime.now(UTC))
    return MemberOut(
        customer_id=customer_id,
        balance=balance,
        tier=tier,
        tier_since=tier_since,
        downgrade_warning_at=warned,
        qualifying_spend=str(spend.quantize(CENTS)),
        progress=Progress.model_validate(progress(spend, tier, rules)),
        expiring_in_30_days=int(expiring),
        points_value=str(balance * rules.redemption.value / rules.redemption.points),
        benefits=rules.tier(tier).benefits,
    )


async def ledger_page(conn: AsyncConnection, customer_id: str, cursor: int | None, limit: int) -> LedgerPage:
    params = {"c": customer_id, "cursor": cursor or NEWEST, "limit": limit}
    entries = [LedgerEntryOut.model_validate(r._mapping) for r in await conn.execute(_LEDGER, params)]
    return LedgerPage(entries=entries, next_cursor=entries[-1].entry_id if len(entries) == limit else None)


async def _locked(
    conn: AsyncConnection, customer_id: str, now: datetime, lots: Sequence[str] = ()
) -> MemberState:
    states = await load(conn, [customer_id], [], now - timedelta(days=366), lot_ids=lots)
    return states[customer_id]


async def redeem(
    conn: AsyncConnection, customer_id: str, points: int, reference: str, now: datetime, topic: str
) -> RedemptionOut:
    """Spends points, oldest lots first; the same reference again answers the first result (`duplicate`)."""
    state = await _locked(conn, customer_id, now)
    existing = (await conn.execute(_REDEMPTION, {"c": customer_id, "r": reference})).first()
    if existing is not None:
        if existing[0] != points:
            raise Conflict("reference already used for a different number of points")
        return RedemptionOut(reference=reference, points=points, balance=state.balance, status="duplicate")
    expire_due(state, now)
    try:
        entry = state.account.redeem(points, now, f"redemption:{reference}", "redemption")
    except InsufficientPoints as exc:
        raise Conflict(f"insufficient points: {exc}") from exc
    record_entry(state, entry, "points_redeemed", {"reference": reference})
    await save(conn, [state], topic)
    draws = json.dumps([[d.lot_id, d.points] for d in entry.draws])
    await conn.execute(
        _SAVE_REDEMPTION, {"c": customer_id, "r": reference, "p": points, "a": now, "d": draws}
    )
    return RedemptionOut(reference=reference, points=points, balance=state.balance, status="redeemed")


async def reverse(
    conn: AsyncConnection, customer_id: str, reference: str, now: datetime, topic: str
) -> ReversalOut:
    """Restores a redemption's points to the lots they came from, once."""
    peek = (await conn.execute(_REDEMPTION_PEEK, {"c": customer_id, "r": reference})).first()
    if peek is None:
        raise NotFound(f"no redemption {reference!r}")
    state = await _locked(conn, customer_id, now, [lot for lot, _ in peek[0]])
    points, draws, reversed_at = (await conn.execute(_REDEMPTION, {"c": customer_id, "r": reference})).one()
    if reversed_at is not None:
        return ReversalOut(reference=reference, balance=state.balance, status="already_reversed")
    expire_due(state, now)
    original = Entry(
        "redeemed", -points, now, reference, "redemption", tuple(Draw(lot, p) for lot, p in draws)
    )
    entry = state.account.reverse_redemption(original, now, f"reversal:{reference}")
    record_entry(state, entry, "points_earned", {"reference": reference})
    await save(conn, [state], topic)
    await conn.execute(_REVERSED, {"c": customer_id, "r": reference, "a": now})
    return ReversalOut(reference=reference, restored=entry.points, balance=state.balance, status="reversed")
