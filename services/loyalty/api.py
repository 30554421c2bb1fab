"""Loyalty routes: member summary, ledger, tiers, redemptions and their reversal, the schedule.

Every route needs a key, a read-only client's or the operator's (members' balances, spend and orders are
customer data; only health, metrics and docs are open); only the operator key writes.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response

from services.loyalty import members
from services.loyalty.config import OPERATOR
from services.loyalty.rules import LoyaltyRules, TierRule
from services.loyalty.schedule import run_schedule
from services.loyalty.schemas import (
    CustomerId,
    LedgerPage,
    MemberOut,
    RedemptionIn,
    RedemptionOut,
    Reference,
    ReversalOut,
    ScheduleOut,
)
from shared.contracts.bounds import Timestamp
from shared.params import BIGINT_MAX
from shared.security import app_client
from shared.service import RuntimeDep

__all__ = ["LoyaltyState", "RedemptionIn", "router"]


@dataclass(frozen=True)
class LoyaltyState:
    """What the routes need besides the runtime: the hot-reloaded rules and the changes topic."""

    rules: Callable[[], LoyaltyRules]
    topic: str


def loyalty_state(request: Request) -> LoyaltyState:
    state: LoyaltyState = request.app.state.loyalty
    return state


StateDep = Annotated[LoyaltyState, Depends(loyalty_state)]
reader = Depends(app_client())
operator = Depends(app_client(allowed={OPERATOR}))
router = APIRouter(prefix="/v1", tags=["loyalty"])


@router.get("/tiers", dependencies=[reader])
async def tiers(state: StateDep) -> list[TierRule]:
    """Tiers with their qualifying spend, points multiplier and benefits."""
    return list(state.rules().tiers)


@router.get("/members/{customer_id}", dependencies=[reader])
async def member(customer_id: CustomerId, runtime: RuntimeDep, state: StateDep) -> MemberOut:
    """Balance, tier, qualifying spend, progress to next tier, points expiring in 30 days, benefits."""
    async with runtime.database.connection() as conn:
        try:
            return await members.member_summary(conn, customer_id, state.rules())
        except members.NotFound as exc:
            raise HTTPException(404, str(exc)) from exc


@router.get("/members/{customer_id}/ledger", dependencies=[reader])
async def member_ledger(
    customer_id: CustomerId,
    runtime: RuntimeDep,
    cursor: Annotated[
        int | None, Query(ge=1, le=BIGINT_MAX, description="entry_id to continue before")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> LedgerPage:
    """Ledger entries, newest first; pass `next_cursor` back as `cursor` for the next page."""
    async with runtime.database.connection() as conn:
        return await members.ledger_page(conn, customer_id, cursor, limit)


@router.post(
    "/members/{customer_id}/redemptions",
    status_code=201,
    dependencies=[operator],
    responses={
        200: {"model": RedemptionOut, "description": "The same reference again: the first result"},
    },
)
async def redeem(
    customer_id: CustomerId, body: RedemptionIn, response: Response, runtime: RuntimeDep, state: StateDep
) -> RedemptionOut:
    """Spend points (oldest lots first). The same `reference` again returns the first result (200);
    more points than the balance → 409. Concurrent redemptions are serialised on the member."""
    async with runtime.database.connection() as conn:
        try:
            done = await members.redeem(
                conn, customer_id, body.points, body.reference, datetime.now(UTC), state.topic
            )
        except members.Conflict as exc:
            raise HTTPException(409, str(exc)) from exc
    if done.status == "duplicate":
        response.status_code = 200
    return done


@router.post(
    "/members/{customer_id}/redemptions/{reference}/reversal",
    dependencies=[operator],
    response_model_exclude_none=True,
)
async def reverse(
    customer_id: CustomerId, reference: Reference, runtime: RuntimeDep, state: StateDep
) -> ReversalOut:
    """Restore a redemption's points to the lots they came from (once)."""
    async with runtime.database.connection() as conn:
        try:
            return await members.reverse(conn, customer_id, reference, datetime.now(UTC), state.topic)
        except members.NotFound as exc:
            raise HTTPException(404, str(exc)) from exc


@router.post("/ops/schedule", dependencies=[operator], tags=["operations"])
async def schedule(
    runtime: RuntimeDep,
    state: StateDep,
    at: Annotated[
        Timestamp | None, Query(description="Run as of this time with its offset (default: now)")
    ] = None,
    tiers: Annotated[bool, Query(description="Also evaluate tier downgrades")] = False,
) -> ScheduleOut:
    """Run expiry, expiry reminders and (optionally) tier downgrade evaluation now, or as of `at`."""
    now = at or datetime.now(UTC)  # `at` has its offset and lies within the contracts' window
    report = await run_schedule(runtime.database, state.rules(), now, state.topic, evaluate_tiers=tiers)
    return ScheduleOut(**report.__dict__)
