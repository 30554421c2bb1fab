"""Applying consumed events to members' loaded state (pure: the repository loads and saves around it).

Each function changes one `MemberState` in memory and queues the rows and `loyalty.changes.v1` events
that the repository then writes in the same transaction as the consumer's idempotency claim.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from uuid import NAMESPACE_URL, UUID, uuid5

from services.loyalty.earning import clawback_points, purchase_points, reward_allowed
from services.loyalty.ledger import Account, Entry, Lot
from services.loyalty.rules import LoyaltyRules, Reward
from services.loyalty.tiers import qualifying_spend, upgrade
from shared.contracts.commerce import Purchase, Refund
from shared.contracts.loyalty import Tier


@dataclass
class Order:
    order_id: str
    amount: Decimal
    points_earned: int
    points_clawed_back: int
    refunded: Decimal
    lot_id: str
    at: datetime


@dataclass(frozen=True)
class Change:
    """An event for loyalty.changes.v1, with an id derived from its cause so replays repeat it exactly."""

    event_id: UUID
    event_type: str
    at: datetime
    payload: dict[str, object]


@dataclass
class MemberState:
    customer_id: str
    tier: Tier
    warned_at: datetime | None
    balance: int
    account: Account
    spend: list[tuple[datetime, Decimal]]
    orders: dict[str, Order]
    reward_times: dict[str, list[datetime]]
    loaded_lots: dict[str, int] = field(default_factory=dict)
    touched_orders: set[str] = field(default_factory=set)
    new_orders: set[str] = field(default_factory=set)
    new_rewards: list[tuple[str, str, datetime]] = field(default_factory=list)
    tier_changes: list[tuple[Tier, Tier, str, datetime]] = field(default_factory=list)
    changes: list[Change] = field(default_factory=list)
    ledger_rows: list[tuple[Entry, int]] = field(default_factory=list)

    def changed_lots(self) -> list[Lot]:
        return [lot for lot in self.account.lots if self.loaded_lots.get(lot.lot_id) != lot.remaining]


def change_id(cause: str, kind: str, customer_id: str) -> UUID:
    return uuid5(NAMESPACE_URL, f"loyalty:{cause}:{kind}:{customer_id}")


def record_entry(
    state: MemberState, entry: Entry, change_type: str, extra: dict[str, object] | None = None
) -> None:
    state.balance += entry.points
    state.ledger_rows.append((entry, state.balance))
    if entry.points == 0 and change_type != "points_redeemed":
        return
    payload: dict[str, object] = {
        "customer_id": state.customer_id,
        "points": entry.points,
        "balance": state.balance,
        "reason": entry.reason,
        "at": entry.at,
        **(extra or {}),
    }
    state.changes.append(
        Change(change_id(entry.source, change_type, state.customer_id), change_type, entry.at, payload)
    )


def expire_due(state: MemberState, now: datetime) -> None:
    for entry in state.account.expire(now):
        record_entry(state, entry, "points_expired")


def _earn(
    state: MemberState,
    points: int,
    at: datetime,
    source: str,
    reason: str,
    rules: LoyaltyRules,
    event_id: UUID | None,
) -> Entry | None:
    if points <= 0:
        return None
    entry = state.account.earn(points, at, source, reason, rules.lot_expiry_months)
    lot = state.account.lots[-1]
    record_entry(
        state, entry, "points_earned", {"source_event_id": event_id, "expires_on": lot.expires_at.date()}
    )
    return entry


def set_tier(state: MemberState, to_tier: Tier, reason: str, at: datetime, spend: Decimal) -> None:
    state.tier_changes.append((state.tier, to_tier, reason, at))
    state.changes.append(
        Change(
            change_id(f"{reason}:{at.isoformat()}", "tier_changed", state.customer_id),
            "tier_changed",
            at,
            {
                "customer_id": state.customer_id,
                "from_tier": state.tier,
                "to_tier": to_tier,
                "qualifying_spend": str(spend),
                "effective_at": at,
            },
        )
    )
    state.tier, state.warned_at = to_tier, None


def apply_purchase(state: MemberState, event_id: UUID, purchase: Purchase, rules: LoyaltyRules) -> None:
    at = purchase.occurred_at
    expire_due(state, at)
    if purchase.order_id in state.orders:
        return  # the same order under another event id: earned once
    points, applied = purchase_points(purchase.amount, state.tier, at, purchase.channel, rules)
    source = str(event_id)
    _earn(state, points, at, source, f"purchase {purchase.order_id} ({', '.join(applied)})", rules, event_id)
    state.orders[purchase.order_id] = Order(
        purchase.order_id, purchase.amount, points, 0, Decimal(0), source, at
    )
    state.new_orders.add(purchase.order_id)
    state.spend.append((at, purchase.amount))
    spend = qualifying_spend(state.spend, at)
    higher = upgrade(state.tier, spend, rules)
    if higher is not None:
        set_tier(state, higher, f"upgrade on purchase {purchase.order_id}", at, spend)


def apply_refund(state: MemberState, event_id: UUID, refund: Refund, at: datetime) -> None:
    expire_due(state, at)
    source = str(event_id)
    order = state.orders.get(refund.order_id)
    if order is None:
        return  # an order this programme never saw earned no points and counted for no spend
    refunded = min(refund.amount, order.amount - order.refunded)
    order.refunded += refunded
    state.spend.append((order.at, -refunded))
    owed = clawback_points(order.points_earned, order.amount, order.refunded) - order.points_clawed_back
    if owed > 0:
        entry = state.account.claw_back(
            owed, at, source, f"refund of order {refund.order_id}", from_lot=order.lot_id
        )
        order.points_clawed_back += -entry.points
        record_entry(state, entry, "points_clawed_back", {"source_event_id": event_id})
    state.touched_orders.add(refund.order_id)


def apply_reward(
    state: MemberState,
    kind: str,
    reward: Reward | None,
    event_id: UUID,
    at: datetime,
    reason: str,
    rules: LoyaltyRules,
) -> None:
    expire_due(state, at)
    if reward is None or reward.points == 0:
        return
    earlier = state.reward_times.setdefault(kind, [])
    if not reward_allowed(reward, earlier, at):
        return  # over the daily or monthly cap
    earlier.append(at)
    state.new_rewards.append((str(event_id), kind, at))
    _earn(state, reward.points, at, f"{event_id}:{kind}", reason, rules, event_id)
