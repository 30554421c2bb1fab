"""How many points an event earns under the rules (pure)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_UP, Decimal

from services.loyalty.rules import WEEKDAYS, LoyaltyRules, Promotion, Reward
from shared.contracts.feedback import Channel
from shared.contracts.loyalty import Tier


def promotion_applies(promotion: Promotion, at: datetime, channel: Channel | None) -> bool:
    day = at.date()
    return (
        (promotion.weekdays is None or WEEKDAYS[day.weekday()] in promotion.weekdays)
        and (promotion.date_from is None or day >= promotion.date_from)
        and (promotion.date_to is None or day <= promotion.date_to)
        and (promotion.channels is None or channel in promotion.channels)
    )


def purchase_points(
    amount: Decimal, tier: Tier, at: datetime, channel: Channel | None, rules: LoyaltyRules
) -> tuple[int, list[str]]:
    """Points for a purchase and the multipliers applied.

    amount × points per unit × tier multiplier × the highest matching promotion (promotions do not
    stack with each other), then rounded to whole points as the rules say (default: down).
    """
    matching = [p for p in rules.promotions if promotion_applies(p, at, channel)]
    best = max(matching, key=lambda p: p.multiplier, default=None)
    multiplier = rules.tier(tier).multiplier * (best.multiplier if best else Decimal(1))
    raw = amount * rules.points_per_currency_unit * multiplier
    points = int(
        raw.quantize(Decimal(1), rounding=ROUND_FLOOR if rules.rounding == "floor" else ROUND_HALF_UP)
    )
    applied = [f"tier:{tier}×{rules.tier(tier).multiplier}"] + (
        [f"promotion:{best.name}×{best.multiplier}"] if best else []
    )
    return max(points, 0), applied


def reward_allowed(reward: Reward, earlier: Sequence[datetime], at: datetime) -> bool:
    """Whether one more reward at `at` stays within the daily and monthly caps, given earlier ones."""
    same_day = sum(1 for t in earlier if t.date() == at.date())
    same_month = sum(1 for t in earlier if (t.year, t.month) == (at.year, at.month))
    return (reward.daily_cap is None or same_day < reward.daily_cap) and (
        reward.monthly_cap is None or same_month < reward.monthly_cap
    )


def clawback_points(earned: int, order_amount: Decimal, refunded: Decimal) -> int:
    """Points to take back for a (partial) refund: the refunded share of what the order earned, rounded up
    so that refunding a whole order in parts never leaves points behind."""
    if order_amount <= 0:
        return 0
    share = min(refunded / order_amount, Decimal(1))
    return min(earned, int((earned * share).quantize(Decimal(1), rounding=ROUND_CEILING)))
