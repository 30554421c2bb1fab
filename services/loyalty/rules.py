"""Earning rules, tiers and redemption value: validated YAML (see earning_rules.yaml for the defaults)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from shared.contracts.bounds import MAX_POINTS
from shared.contracts.feedback import Channel
from shared.contracts.loyalty import MAX_DAYS_AHEAD, Tier
from shared.yamlconfig import load_yaml

DEFAULT_RULES = Path(__file__).with_name("earning_rules.yaml")
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
TIER_ORDER: tuple[Tier, ...] = ("bronze", "silver", "gold", "diamond")
MAX_MULTIPLIER = Decimal(10)
MAX_POINTS_PER_UNIT = Decimal(100)
"""Bounds that keep a purchase's points within MAX_POINTS (what loyalty.changes.v1 carries and the bigint
ledger columns hold): MAX_AMOUNT × MAX_POINTS_PER_UNIT × MAX_MULTIPLIER (tier) × MAX_MULTIPLIER (promotion)
stays below it (tests/unit/test_contract_bounds.py checks the product)."""


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Promotion(Strict):
    """A multiplier on purchase points when every condition given holds."""

    name: str
    multiplier: Decimal = Field(gt=0, le=MAX_MULTIPLIER)
    weekdays: list[Weekday] | None = None
    date_from: date | None = None
    date_to: date | None = None
    channels: list[Channel] | None = None


class Reward(Strict):
    points: int = Field(ge=0, le=MAX_POINTS)
    daily_cap: int | None = Field(default=None, ge=1)
    """How many times a member can earn it per day (None: unlimited)."""
    monthly_cap: int | None = Field(default=None, ge=1)


class Rewards(Strict):
    feedback_submitted: Reward
    survey_completed: Reward
    referral_referrer: Reward
    referral_referee: Reward
    complaint_resolved_goodwill: Reward | None = None


class TierRule(Strict):
    name: Tier
    qualifying_spend: Decimal = Field(ge=0)
    multiplier: Decimal = Field(gt=0, le=MAX_MULTIPLIER)
    benefits: list[str] = Field(default_factory=list)


class Redemption(Strict):
    points: int = Field(gt=0)
    value: Decimal = Field(gt=0)
    """`points` points are worth `value` currency units."""


class Downgrade(Strict):
    every_months: int = Field(default=1, ge=1, le=12)
    warning_days: int = Field(default=30, ge=0, le=120)


class LoyaltyRules(Strict):
    points_per_currency_unit: Decimal = Field(gt=0, le=MAX_POINTS_PER_UNIT)
    rounding: Literal["floor", "half_up"] = "floor"
    lot_expiry_months: int = Field(ge=1, le=120)
    expiry_reminder_days: list[Annotated[int, Field(ge=0, le=MAX_DAYS_AHEAD)]] = Field(
        min_length=0, max_length=10
    )
    redemption: Redemption
    tiers: list[TierRule] = Field(min_length=1)
    promotions: list[Promotion] = Field(default_factory=list)
    rewards: Rewards
    downgrade: Downgrade = Field(default_factory=Downgrade)

    @model_validator(mode="after")
    def _tiers_in_order(self) -> Self:
        names = [t.name for t in self.tiers]
        if names != [t for t in TIER_ORDER if t in names] or names[0] != "bronze":
            raise ValueError("tiers: must start at bronze and follow bronze → silver → gold → diamond")
        spends = [t.qualifying_spend for t in self.tiers]
        if spends[0] != 0 or spends != sorted(set(spends)):
            raise ValueError("tiers: qualifying_spend must start at 0 and strictly increase")
        return self

    def tier(self, name: Tier) -> TierRule:
        return next(t for t in self.tiers if t.name == name)


def load_rules(path: Path = DEFAULT_RULES) -> LoyaltyRules:
    return load_yaml(path, LoyaltyRules)
