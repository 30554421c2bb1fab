"""Earning rules and tiers from the shipped defaults, by example, with a virtual clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from services.loyalty.earning import clawback_points, purchase_points, reward_allowed
from services.loyalty.rules import DEFAULT_RULES, LoyaltyRules, load_rules
from services.loyalty.tiers import evaluate_downgrade, progress, qualifying_spend, tier_for_spend, upgrade
from shared.yamlconfig import ConfigError, parse_yaml

RULES = load_rules()
TUESDAY = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
WEDNESDAY = TUESDAY + timedelta(days=1)


def test_one_point_per_currency_unit_rounded_down():
    assert purchase_points(Decimal("99.99"), "bronze", TUESDAY, "store", RULES)[0] == 99


@pytest.mark.parametrize(
    ("tier", "points"), [("bronze", 1000), ("silver", 1200), ("gold", 1500), ("diamond", 2000)]
)
def test_tier_multipliers(tier, points):
    assert purchase_points(Decimal(1000), tier, TUESDAY, None, RULES)[0] == points


def test_double_points_on_wednesday_on_top_of_the_tier():
    points, applied = purchase_points(Decimal(1000), "gold", WEDNESDAY, "app", RULES)
    assert points == 3000
    assert applied == ["tier:gold×1.5", "promotion:double-points-wednesday×2"]


def test_promotions_by_channel_and_date_range_and_the_best_one_wins():
    rules = RULES.model_copy(
        update={
            "promotions": [
                *RULES.promotions,
                RULES.promotions[0].model_copy(
                    update={
                        "name": "app-week",
                        "multiplier": Decimal(3),
                        "weekdays": None,
                        "channels": ["app"],
                        "date_from": WEDNESDAY.date(),
                        "date_to": WEDNESDAY.date(),
                    }
                ),
            ]
        }
    )
    assert purchase_points(Decimal(100), "bronze", WEDNESDAY, "app", rules)[0] == 300
    assert purchase_points(Decimal(100), "bronze", WEDNESDAY, "store", rules)[0] == 200
    assert purchase_points(Decimal(100), "bronze", WEDNESDAY + timedelta(days=7), "app", rules)[0] == 200


def test_rewards_respect_daily_and_monthly_caps():
    survey = RULES.rewards.survey_completed  # 2 a day, 10 a month
    assert reward_allowed(survey, [TUESDAY], TUESDAY)
    assert not reward_allowed(survey, [TUESDAY, TUESDAY], TUESDAY)
    month = [TUESDAY.replace(day=d) for d in range(1, 11)]
    assert not reward_allowed(survey, month, TUESDAY.replace(day=28))


def test_refund_claws_back_its_share_of_the_points():
    assert clawback_points(1500, Decimal(1000), Decimal(1000)) == 1500
    assert clawback_points(1500, Decimal(1000), Decimal(333)) == 500
    halves = clawback_points(1001, Decimal(100), Decimal(50)) * 2
    assert halves >= 1001


def test_tiers_by_rolling_12_month_spend():
    now = datetime(2026, 11, 1, tzinfo=UTC)
    movements = [
        (now - timedelta(days=400), Decimal(90000)),
        (now - timedelta(days=10), Decimal(60000)),
        (now - timedelta(days=5), Decimal(-5000)),
    ]
    spend = qualifying_spend(movements, now)
    assert spend == Decimal(55000)
    assert tier_for_spend(spend, RULES) == "gold"
    assert upgrade("silver", spend, RULES) == "gold"
    assert upgrade("diamond", spend, RULES) is None
    assert progress(spend, "gold", RULES) == {"next_tier": "diamond", "spend_needed": "45000.00"}


def test_downgrade_warns_first_then_drops_one_level_after_30_days():
    now = datetime(2026, 12, 1, tzinfo=UTC)
    assert evaluate_downgrade("diamond", Decimal(0), None, now, RULES).action == "warn"
    early = evaluate_downgrade("diamond", Decimal(0), now, now + timedelta(days=29), RULES)
    assert early.action == "keep"
    late = evaluate_downgrade("diamond", Decimal(0), now, now + timedelta(days=30), RULES)
    assert (late.action, late.to_tier) == ("downgrade", "gold")
    assert evaluate_downgrade("gold", Decimal(60000), now, now, RULES).action == "clear_warning"


def test_a_bad_rules_file_names_line_and_field():
    text = DEFAULT_RULES.read_text().replace("multiplier: 1.2", "multiplier: -1")
    with pytest.raises(ConfigError, match=r"rules:\d+: tiers\.1\.multiplier"):
        parse_yaml(text, LoyaltyRules, "rules")


def test_tiers_out_of_order_are_refused():
    text = DEFAULT_RULES.read_text().replace("qualifying_spend: 50000", "qualifying_spend: 5000")
    with pytest.raises(ConfigError, match="strictly increase"):
        parse_yaml(text, LoyaltyRules, "rules")
