"""Loading members' state for a batch of events and writing back what changed, in set-based statements.

Callers run `load` and `save` in one transaction with the consumer's idempotency claim: members are
locked (in key order, so concurrent batches cannot deadlock) from load until commit.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from services.loyalty.apply import MemberState, Order
from services.loyalty.ledger import Account, Lot
from services.loyalty.tiers import WINDOW as SPEND_WINDOW
from shared.contracts.envelope import encode_record

_ENSURE = text(
    "INSERT INTO loyalty.members (customer_id) SELECT unnest(CAST(:ids AS text[])) ON CONFLICT DO NOTHING"
)
_MEMBERS = text("""
    SELECT customer_id, tier, downgrade_warned_at, balance FROM loyalty.members
    WHERE customer_id = ANY(CAST(:ids AS text[])) ORDER BY customer_id FOR UPDATE
""")
_LOTS = text("""
    SELECT customer_id, lot_id, earned_at, expires_at, points, remaining FROM loyalty.lots
    WHERE customer_id = ANY(CAST(:ids AS text[])) AND remaining > 0
      AND (expires_at <= :due OR customer_id = ANY(CAST(:spending AS text[])))
""")
_SPENT_LOTS = text("""
    SELECT customer_id, lot_id, earned_at, expires_at, points, remaining FROM loyalty.lots
    WHERE customer_id = ANY(CAST(:ids AS text[])) AND lot_id = ANY(CAST(:lot_ids AS text[])) AND remaining = 0
""")
_ORDERS = text("""
    SELECT customer_id, order_id, amount, points_earned, points_clawed_back, refunded, lot_id, at
    FROM loyalty.orders WHERE customer_id = ANY(CAST(:ids AS text[])) AND at > :since
      AND NOT (at > :settled_from AND at <= :settled_to)
    UNION
    SELECT o.customer_id, o.order_id, o.amount, o.points_earned, o.points_clawed_back, o.refunded,
           o.lot_id, o.at
    FROM loyalty.orders o
    JOIN unnest(CAST(:customers AS text[]), CAST(:orders AS text[])) AS k(c, o2)
      ON o.customer_id = k.c AND o.order_id = k.o2
""")
_SETTLED_SPEND = text("""
    SELECT customer_id, sum(amount - refunded) FROM loyalty.orders
    WHERE customer_id = ANY(CAST(:ids AS text[])) AND at > :settled_from AND at <= :settled_to
    GROUP BY customer_id
""")
"""Orders inside every event's 12-month window are summed in the database, not loaded one by one."""
_REWARDS = text("""
    SELECT customer_id, reward, at FROM loyalty.rewards
    WHERE customer_id = ANY(CAST(:ids AS text[])) AND at >= :since
""")


async def load(
    conn: AsyncConnection,
    customer_ids: Iterable[str],
    order_keys: Iterable[tuple[str, str]],
    since: datetime,
    lot_ids: Sequence[str] = (),
    event_times: tuple[datetime, datetime] | None = None,
    spending: Iterable[str] | None = None,
) -> dict[str, MemberState]:
    """Lock and load every member (created at bronze if new), with open lots (and the spent ones named in
    `lot_ids`), orders since `since` (their net amounts are the qualifying spend) and those named,
    and rewards since the start of `since`'s month.

    With `event_times` (the earliest and latest event time of a batch), orders that fall inside the spend
    window of every one of those events arrive as one summed movement per member instead of one row per
    order: qualifying spend stays exact and a frequent buyer's year of orders is not read per batch."""
    ids = sorted(set(customer_ids))
    await conn.execute(_ENSURE, {"ids": ids})
    states = {
        c: MemberState(c, tier, warned, balance, Account(), [], {}, {})
        for c, tier, warned, balance in await conn.execute(_MEMBERS, {"ids": ids})
    }
    due = (
        event_times[1]
        if event_times is not None and spending is not None
        else datetime.max.replace(tzinfo=UTC)
    )
    lot_rows = list(
        await conn.execute(_LOTS, {"ids": ids, "due": due, "spending": sorted(set(spending or ()))})
    )
    if lot_ids:
        lot_rows += list(await conn.execute(_SPENT_LOTS, {"ids": ids, "lot_ids": list(lot_ids)}))
    for c, lot_id, earned_at, expires_at, points, remaining in lot_rows:
        states[c].account.lots.append(Lot(lot_id, earned_at, expires_at, points, remaining))
        states[c].loaded_lots[lot_id] = remaining
    # The settled band (settled_from, settled_to] is empty unless a batch spans less than the window.
    settled_from, settled_to = since, since
    if event_times is not None and event_times[1] - SPEND_WINDOW < event_times[0]:
        settled_from, settled_to = event_times[1] - SPEND_WINDOW, event_times[0]
        band = {"ids": ids, "settled_from": settled_from, "settled_to": settled_to}
        for c, total in await conn.execute(_SETTLED_SPEND, band):
            states[c].spend.append((settled_to, total))
    keys = sorted(set(order_keys))
    rows = await conn.execute(
        _ORDERS,
        {
            "ids": ids,
            "since": since,
            "settled_from": settled_from,
            "settled_to": settled_to,
            "customers": [k[0] for k in keys],
            "orders": [k[1] for k in keys],
        },
    )
    for c, order_id, amount, earned, clawed, refunded, lot_id, at in rows:
        states[c].orders[order_id] = Order(order_id, amount, earned, clawed, refunded, lot_id, at)
        if at > since and not settled_from < at <= settled_to:
            states[c].spend.append((at, amount - refunded))
    month_start = since.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    for c, reward, at in await conn.execute(_REWARDS, {"ids": ids, "since": month_start}):
        states[c].reward_times.setdefault(reward, []).append(at)
    return states


_SAVE_MEMBERS = text("""
    UPDATE loyalty.members m SET
        tier_since = CASE WHEN m.tier <> t.tier THEN now() ELSE m.tier_since END,
        tier = t.tier, downgrade_warned_at = t.warned, balance = t.balance, updated_at = now()
    FROM unnest(CAST(:ids AS text[]), CAST(:tiers AS text[]), CAST(:warned AS timestamptz[]),
                CAST(:balances AS bigint[])) AS t(c, tier, warned, balance)
    WHERE m.customer_id = t.c
""")
_SAVE_LOTS = text("""
    INSERT INTO loyalty.lots (customer_id, lot_id, earned_at, expires_at, points, remaining)
    SELECT * FROM unnest(CAST(:c AS text[]), CAST(:lot AS text[]), CAST(:earned AS timestamptz[]),
                         CAST(:expires AS timestamptz[]), CAST(:points AS bigint[]),
                         CAST(:remaining AS bigint[]))
    ON CONFLICT (customer_id, lot_id) DO UPDATE SET remaining = EXCLUDED.remaining
""")
_SAVE_LEDGER = text("""
    INSERT INTO loyalty.ledger (customer_id, kind, points, balance_after, source, reason, draws, at)
    SELECT c, k, p, b, s, r, CAST(d AS jsonb), a
    FROM unnest(CAST(:c AS text[]), CAST(:k AS text[]), CAST(:p AS bigint[]), CAST(:b AS bigint[]),
                CAST(:s AS text[]), CAST(:r AS text[]), CAST(:d AS text[]), CAST(:a AS timestamptz[]))
         WITH ORDINALITY AS t(c, k, p, b, s, r, d, a, n)
    ORDER BY n
""")
_SAVE_ORDERS = text("""
    INSERT INTO loyalty.orders
        (customer_id, order_id, amount, points_earned, points_clawed_back, refunded, lot_id, at)
    SELECT * FROM unnest(CAST(:c AS text[]), CAST(:o AS text[]), CAST(:amount AS numeric[]),
                         CAST(:earned AS bigint[]), CAST(:clawed AS bigint[]), CAST(:refunded AS numeric[]),
                         CAST(:lot AS text[]), CAST(:at AS timestamptz[]))
    ON CONFLICT (customer_id, order_id) DO UPDATE
        SET points_clawed_back = EXCLUDED.points_clawed_back, refunded = EXCLUDED.refunded
""")
_SAVE_REWARDS = text("""
    INSERT INTO loyalty.rewards (customer_id, source, reward, at)
    SELECT * FROM unnest(CAST(:c AS text[]), CAST(:s AS text[]), CAST(:r AS text[]),
                         CAST(:a AS timestamptz[]))
    ON CONFLICT DO NOTHING
""")
_SAVE_TIERS = text("""
    INSERT INTO loyalty.tier_history (customer_id, from_tier, to_tier, reason, at)
    SELECT * FROM unnest(CAST(:c AS text[]), CAST(:f AS text[]), CAST(:t AS text[]), CAST(:r AS text[]),
                         CAST(:a AS timestamptz[]))
""")
_SAVE_OUTBOX = text("""
    INSERT INTO loyalty.outbox (event_id, topic, event_type, key, value)
    SELECT * FROM unnest(CAST(:id AS uuid[]), CAST(:topic AS text[]), CAST(:type AS text[]),
                         CAST(:key AS text[]), CAST(:value AS bytea[]))
    ON CONFLICT (event_id) DO NOTHING
""")


async def save(conn: AsyncConnection, states: Sequence[MemberState], topic: str) -> None:
    """Write members, touched lots, new ledger lines, orders, rewards, tier history and outbox rows."""
    await conn.execute(
        _SAVE_MEMBERS,
        {
            "ids": [s.customer_id for s in states],
            "tiers": [s.tier for s in states],
            "warned": [s.warned_at for s in states],
            "balances": [s.balance for s in states],
        },
    )
    lots = [(s.customer_id, lot) for s in states for lot in s.changed_lots()]
    if lots:
        await conn.execute(
            _SAVE_LOTS,
            {
                "c": [c for c, _ in lots],
                "lot": [lot.lot_id for _, lot in lots],
                "earned": [lot.earned_at for _, lot in lots],
                "expires": [lot.expires_at for _, lot in lots],
                "points": [lot.points for _, lot in lots],
                "remaining": [lot.remaining for _, lot in lots],
            },
        )
    rows = [(s.customer_id, entry, balance) for s in states for entry, balance in s.ledger_rows]
    if rows:
        await conn.execute(
            _SAVE_LEDGER,
            {
                "c": [c for c, _, _ in rows],
                "k": [e.kind for _, e, _ in rows],
                "p": [e.points for _, e, _ in rows],
                "b": [b for _, _, b in rows],
                "s": [e.source for _, e, _ in rows],
                "r": [e.reason for _, e, _ in rows],
                "d": [json.dumps([[d.lot_id, d.points] for d in e.draws]) for _, e, _ in rows],
                "a": [e.at for _, e, _ in rows],
            },
        )
    orders = [(s.customer_id, s.orders[o]) for s in states for o in s.new_orders | s.touched_orders]
    if orders:
        await conn.execute(
            _SAVE_ORDERS,
            {
                "c": [c for c, _ in orders],
                "o": [o.order_id for _, o in orders],
                "amount": [o.amount for _, o in orders],
                "earned": [o.points_earned for _, o in orders],
                "clawed": [o.points_clawed_back for _, o in orders],
                "refunded": [o.refunded for _, o in orders],
                "lot": [o.lot_id for _, o in orders],
                "at": [o.at for _, o in orders],
            },
        )
    rewards = [(s.customer_id, *row) for s in states for row in s.new_rewards]
    if rewards:
        await conn.execute(
            _SAVE_REWARDS,
            {
                "c": [r[0] for r in rewards],
                "s": [r[1] for r in rewards],
                "r": [r[2] for r in rewards],
                "a": [r[3] for r in rewards],
            },
        )
    tiers = [(s.customer_id, *row) for s in states for row in s.tier_changes]
    if tiers:
        await conn.execute(
            _SAVE_TIERS,
            {
                "c": [r[0] for r in tiers],
                "f": [r[1] for r in tiers],
                "t": [r[2] for r in tiers],
                "r": [r[3] for r in tiers],
                "a": [r[4] for r in tiers],
            },
        )
    changes = [(s.customer_id, change) for s in states for change in s.changes]
    if changes:
        records = [
            encode_record(
                event_id=ch.event_id,
                event_type=ch.event_type,
                occurred_at=ch.at,
                source="loyalty",
                key=c,
                payload=ch.payload,
            )
            for c, ch in changes
        ]
        await conn.execute(
            _SAVE_OUTBOX,
            {
                "id": [ch.event_id for _, ch in changes],
                "topic": [topic] * len(changes),
                "type": [ch.event_type for _, ch in changes],
                "key": [c for c, _ in changes],
                "value": [value for _, value, _ in records],
            },
        )
