"""Member tiers from rolling 12-month qualifying spend: upgrades at once, downgrades one level at a time
after a warning (pure; the clock is a parameter)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Literal

from services.loyalty.rules import TIER_ORDER, LoyaltyRules
from shared.contracts.loyalty import Tier

WINDOW = timedelta(days=365)
CENTS = Decimal("0.01")


def qualifying_spend(movements: Sequence[tuple[datetime, Decimal]], now: datetime) -> Decimal:
    """Net spend (purchases positive, refunds negative) within the last 365 days, never negative."""
    total = sum((amount for at, amount in movements if now - WINDOW < at <= now), Decimal(0))
    return max(total, Decimal(0))


def tier_for_spend(spend: Decimal, rules: LoyaltyRules) -> Tier:
    reached = [t.name for t in rules.tiers if spend >= t.qualifying_spend]
    return reached[-1]


def rank(tier: Tier) -> int:
    return TIER_ORDER.index(tier)


def upgrade(current: Tier, spend: Decimal, rules: LoyaltyRules) -> Tier | None:
    """The tier to move up to now, if the spend qualifies for a higher one."""
    earned = tier_for_spend(spend, rules)
    return earned if rank(earned) > rank(current) else None


@dataclass(frozen=True)
class DowngradeDecision:
    action: Literal["keep", "warn", "downgrade", "clear_warning"]
    to_tier: Tier | None = None


def evaluate_downgrade(
    current: Tier, spend: Decimal, warned_at: datetime | None, now: datetime, rules: LoyaltyRules
) -> DowngradeDecision:
    """At a scheduled evaluation: warn first; downgrade one level once the warning is old enough."""
    earned = tier_for_spend(spend, rules)
    if rank(earned) >= rank(current):
        return DowngradeDecision("clear_warning" if warned_at else "keep")
    target = TIER_ORDER[rank(current) - 1]
    if warned_at is None:
        return DowngradeDecision("warn", target)
    if now - warned_at >= timedelta(days=rules.downgrade.warning_days):
        return DowngradeDecision("downgrade", target)
    return DowngradeDecision("keep", target)


def progress(spend: Decimal, current: Tier, rules: LoyaltyRules) -> dict[str, str | None]:
    """What the member page shows: the next tier and the spend still needed for it."""
    higher = [t for t in rules.tiers if rank(t.name) > rank(current)]
    if not higher:
        return {"next_tier": None, "spend_needed": None}
    nxt = higher[0]
    needed = max(nxt.qualifying_spend - spend, Decimal(0)).quantize(CENTS)
    return {"next_tier": nxt.name, "spend_needed": str(needed)}
