"""Loyalty routes: member summary, ledger, tiers, redemptions and their reversal."""

import json
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request, Response
from pydantic import BaseModel, Field, StrictInt
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from services.loyalty.apply import MemberState, expire_due, record_entry
from services.loyalty.config import OPERATOR, LoyaltySettings
from services.loyalty.ledger import Draw, Entry, InsufficientPoints
from services.loyalty.repository import load, save
from services.loyalty.rules import LoyaltyRules
from services.loyalty.schedule import run_schedule
from services.loyalty.tiers import CENTS, progress, qualifying_spend
from shared.contracts.bounds import ID_LENGTH, Timestamp, WholeNumber
from shared.contracts.registry import LOYALTY_CHANGES
from shared.params import BIGINT_MAX, NO_NUL_SCHEMA, StorableText
from shared.security import require_client
from shared.service import Runtime

CustomerId = Annotated[
    str, Path(min_length=1, max_length=ID_LENGTH, json_schema_extra=NO_NUL_SCHEMA), StorableText
]
Reference = Annotated[str, Path(min_length=1, max_length=200, json_schema_extra=NO_NUL_SCHEMA), StorableText]


class RedemptionIn(BaseModel):
    points: Annotated[StrictInt, Field(gt=0, le=100_000_000), WholeNumber]
    reference: str = Field(min_length=1, max_length=200, description="Idempotency key of this redemption")


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


def loyalty_router(settings: LoyaltySettings, rules: Callable[[], LoyaltyRules]) -> APIRouter:
    keys = settings.key_hashes()
    # Every route needs a key, a read-only client's or the operator's (only health, metrics and docs are
    # open: members' balances, spend and orders are customer data); only the operator key writes.
    reader = Depends(require_client(lambda: keys))
    operator = Depends(require_client(lambda: keys, allowed={OPERATOR}))
    topic = LOYALTY_CHANGES.name + settings.kafka.topic_suffix
    router = APIRouter(prefix="/v1", tags=["loyalty"])

    def runtime(request: Request) -> Runtime:
        state: Runtime = request.app.state.runtime
        return state

    @router.get("/tiers", dependencies=[reader])
    async def tiers() -> list[dict[str, Any]]:
        """Tiers with their qualifying spend, points multiplier and benefits."""
        current = rules()
        return [t.model_dump(mode="json") for t in current.tiers]

    @router.get("/members/{customer_id}", dependencies=[reader])
    async def member(customer_id: CustomerId, request: Request) -> dict[str, Any]:
        """Balance, tier, qualifying spend, progress to next tier, points expiring in 30 days, benefits."""
        current = rules()
        async with runtime(request).database.connection() as conn:
            row = (await conn.execute(_MEMBER, {"c": customer_id})).first()
            if row is None:
                raise HTTPException(404, f"no member {customer_id!r}")
            expiring = (await conn.execute(_EXPIRING, {"c": customer_id})).scalar_one()
            movements = [(at, amount) for at, amount in await conn.execute(_SPEND, {"c": customer_id})]
        tier, balance, tier_since, warned = row
        spend = qualifying_spend(movements, datetime.now(UTC))
        return {
            "customer_id": customer_id,
            "balance": balance,
            "tier": tier,
            "tier_since": tier_since,
            "downgrade_warning_at": warned,
            "qualifying_spend": str(spend.quantize(CENTS)),
            "progress": progress(spend, tier, current),
            "expiring_in_30_days": int(expiring),
            "points_value": str(balance * current.redemption.value / current.redemption.points),
            "benefits": current.tier(tier).benefits,
        }

    @router.get("/members/{customer_id}/ledger", dependencies=[reader])
    async def member_ledger(
        customer_id: CustomerId,
        request: Request,
        cursor: Annotated[
            int | None, Query(ge=1, le=BIGINT_MAX, description="entry_id to continue before")
        ] = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 50,
    ) -> dict[str, Any]:
        """Ledger entries, newest first; pass `next_cursor` back as `cursor` for the next page."""
        async with runtime(request).database.connection() as conn:
            rows = (
                await conn.execute(_LEDGER, {"c": customer_id, "cursor": cursor or 2**62, "limit": limit})
            ).all()
        entries = [
            dict(
                zip(("entry_id", "kind", "points", "balance_after", "source", "reason", "at"), r, strict=True)
            )
            for r in rows
        ]
        return {"entries": entries, "next_cursor": entries[-1]["entry_id"] if len(entries) == limit else None}

    async def locked(
        conn: AsyncConnection, customer_id: str, now: datetime, lots: Sequence[str] = ()
    ) -> MemberState:
        states = await load(conn, [customer_id], [], now - timedelta(days=366), lot_ids=lots)
        return states[customer_id]

    @router.post("/members/{customer_id}/redemptions", status_code=201, dependencies=[operator])
    async def redeem(
        customer_id: CustomerId, body: RedemptionIn, request: Request, response: Response
    ) -> dict[str, Any]:
        """Spend points (oldest lots first). The same `reference` again returns the first result (200);
        more points than the balance → 409. Concurrent redemptions are serialised on the member."""
        now = datetime.now(UTC)
        async with runtime(request).database.connection() as conn:
            state = await locked(conn, customer_id, now)
            existing = (await conn.execute(_REDEMPTION, {"c": customer_id, "r": body.reference})).first()
            if existing is not None:
                if existing[0] != body.points:
                    raise HTTPException(409, "reference already used for a different number of points")
                response.status_code = 200
                return {
                    "reference": body.reference,
                    "points": body.points,
                    "balance": state.balance,
                    "status": "duplicate",
                }
            expire_due(state, now)
            try:
                entry = state.account.redeem(body.points, now, f"redemption:{body.reference}", "redemption")
            except InsufficientPoints as exc:
                raise HTTPException(409, f"insufficient points: {exc}") from exc
            record_entry(state, entry, "points_redeemed", {"reference": body.reference})
            await save(conn, [state], topic)
            await conn.execute(
                _SAVE_REDEMPTION,
                {
                    "c": customer_id,
                    "r": body.reference,
                    "p": body.points,
                    "a": now,
                    "d": _draws_json(entry),
                },
            )
        return {
            "reference": body.reference,
            "points": body.points,
            "balance": state.balance,
            "status": "redeemed",
        }

    @router.post("/members/{customer_id}/redemptions/{reference}/reversal", dependencies=[operator])
    async def reverse(customer_id: CustomerId, reference: Reference, request: Request) -> dict[str, Any]:
        """Restore a redemption's points to the lots they came from (once)."""
        now = datetime.now(UTC)
        async with runtime(request).database.connection() as conn:
            peek = (await conn.execute(_REDEMPTION_PEEK, {"c": customer_id, "r": reference})).first()
            if peek is None:
                raise HTTPException(404, f"no redemption {reference!r}")
            # Member first, then the redemption row: the same lock order as redeem(), so no deadlock.
            state = await locked(conn, customer_id, now, [lot for lot, _ in peek[0]])
            existing = (await conn.execute(_REDEMPTION, {"c": customer_id, "r": reference})).one()
            if existing[2] is not None:
                return {"reference": reference, "balance": state.balance, "status": "already_reversed"}
            expire_due(state, now)
            original = Entry(
                "redeemed",
                -existing[0],
                now,
                reference,
                "redemption",
                tuple(Draw(lot, points) for lot, points in existing[1]),
            )
            entry = state.account.reverse_redemption(original, now, f"reversal:{reference}")
            record_entry(state, entry, "points_earned", {"reference": reference})
            await save(conn, [state], topic)
            await conn.execute(_REVERSED, {"c": customer_id, "r": reference, "a": now})
        return {
            "reference": reference,
            "restored": entry.points,
            "balance": state.balance,
            "status": "reversed",
        }

    @router.post("/ops/schedule", dependencies=[operator], tags=["operations"])
    async def schedule(
        request: Request,
        at: Annotated[
            Timestamp | None, Query(description="Run as of this time with its offset (default: now)")
        ] = None,
        tiers: Annotated[bool, Query(description="Also evaluate tier downgrades")] = False,
    ) -> dict[str, int]:
        """Run expiry, expiry reminders and (optionally) tier downgrade evaluation now, or as of `at`."""
        now = at or datetime.now(UTC)  # `at` has its offset and lies within the contracts' window
        report = await run_schedule(runtime(request).database, rules(), now, topic, evaluate_tiers=tiers)
        return report.__dict__

    return router


def _draws_json(entry: Entry) -> str:
    return json.dumps([[d.lot_id, d.points] for d in entry.draws])
