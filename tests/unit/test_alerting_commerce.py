"""Commerce rules on event time: refund rate per business line, a VIP member's orders against their
own baseline; restored from persisted cells as after a restart."""

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.alerting.evaluation.commerce import CommerceEngine, Sale
from services.alerting.evaluation.engine import Cell, RuleEngine
from services.alerting.rules import AlertingConfig

T0 = datetime(2026, 11, 3, 0, 0, tzinfo=UTC)
"""Where a 30-day window's sixths (5-day buckets, counted from the Unix epoch) begin."""
POLICY = {
    "default": {"steps": [{"level": "L1", "timeout": "2h", "targets": [{"kind": "team", "name": "t"}]}]}
}
REFUNDS = {
    "id": "refunds",
    "kind": "refund_rate",
    "window": "24h",
    "threshold": 0.1,
    "min_orders": 20,
    "group_by": ["business_line"],
}
DROP = {
    "id": "vip-drop",
    "kind": "order_drop",
    "tiers": ["gold", "diamond"],
    "window": "30d",
    "baseline_windows": 3,
    "drop_percent": 30,
    "min_baseline_orders": 3,
}


def config(*rules: dict[str, Any]) -> AlertingConfig:
    return AlertingConfig.model_validate({"rules": list(rules), "policies": POLICY})


def sale(at: datetime, *, refund: bool = False, customer: str = "C1", line: str | None = "retail") -> Sale:
    dims = {"business_line": line, "channel": "web" if line is not None else None, "store_id": ""}
    return Sale(refund, customer, at.timestamp(), dims)


def fired(outcome: Any, rule_id: str | None = None) -> list[Any]:
    return [s for s in outcome.signals if s.firing and (rule_id is None or s.rule.id == rule_id)]


def test_refund_rate_fires_per_business_line_above_the_threshold_with_enough_orders():
    engine = CommerceEngine(config(REFUNDS))
    orders = [sale(T0 + timedelta(minutes=i), line=line) for i in range(25) for line in ("retail", "auto")]
    outcome, _ = engine.process(orders, {})
    assert not fired(outcome)
    refunds = [sale(T0 + timedelta(hours=1, minutes=i), refund=True, line="retail") for i in range(3)]
    outcome, unattributed = engine.process(refunds, {})
    (signal,) = fired(outcome)
    assert dict(signal.group_key) == {"business_line": "retail"}
    assert signal.value == pytest.approx(3 / 25)
    assert signal.rows == (0, 1, 2)
    assert unattributed == 0
    # 2 refunds of 25 orders (8 %) stay below 10 %: the other line does not fire
    outcome, _ = engine.process([sale(T0 + timedelta(hours=2), refund=True, line="auto")] * 2, {})
    assert not fired(outcome)


def test_refund_rate_needs_the_minimum_orders_and_forgets_what_left_the_window():
    engine = CommerceEngine(config(REFUNDS))
    few = [sale(T0 + timedelta(minutes=i)) for i in range(10)] + [sale(T0, refund=True)] * 5
    outcome, _ = engine.process(few, {})
    assert not fired(outcome)  # 50 % of 10 orders: fewer than 20
    more = [sale(T0 + timedelta(hours=1, minutes=i)) for i in range(15)]
    assert fired(engine.process(more, {})[0])  # 5 of 25 within 24 h
    # a day and a half later the old orders and refunds have left the window
    later = [sale(T0 + timedelta(hours=40, minutes=i)) for i in range(30)]
    outcome, _ = engine.process([*later, sale(T0 + timedelta(hours=41), refund=True)], {})
    assert not fired(outcome)


def test_a_refund_that_cannot_be_attributed_is_counted_apart_not_guessed():
    engine = CommerceEngine(config(REFUNDS, {**REFUNDS, "id": "all-refunds", "group_by": []}))
    orders = [sale(T0 + timedelta(minutes=i)) for i in range(20)]
    unknown = [sale(T0 + timedelta(hours=1), refund=True, line=None) for _ in range(4)]
    outcome, unattributed = engine.process(orders + unknown, {})
    assert unattributed == 4
    (signal,) = fired(outcome)  # only the rule over every line counts them
    assert signal.rule.id == "all-refunds"
    assert signal.value == pytest.approx(4 / 20)


def _monthly_orders(customer: str, per_window: list[int], start: datetime = T0) -> list[Sale]:
    """Orders of `customer` spread evenly over consecutive 30-day windows from `start`."""
    out = []
    for window, count in enumerate(per_window):
        for i in range(count):
            at = start + timedelta(days=30 * window + (i + 0.5) * 30 / count)
            out.append(sale(at, customer=customer))
    return out


def _tick(at: datetime, customer: str = "someone-else") -> Sale:
    """Any purchase moves commerce time on (a non-member's: counted by no order-drop rule)."""
    return sale(at, customer=customer)


def test_a_vip_members_orders_dropping_30_percent_below_their_own_baseline_fires_once_judged():
    engine = CommerceEngine(config(DROP))
    tiers = {"gold-1": "gold", "gold-2": "gold", "silver-1": "silver"}
    history = [
        *_monthly_orders("gold-1", [6, 6, 6, 3]),  # 6 a month, then 3: down 50 %
        *_monthly_orders("gold-2", [6, 6, 6, 5]),  # down 17 %: within 30 %
        *_monthly_orders("silver-1", [6, 6, 6, 0]),  # not a VIP member
    ]
    signals = []
    for item in sorted(history, key=lambda s: s.time_s):
        signals += fired(engine.process([item], tiers)[0])
    # four windows end on day 120: judged when event time reaches it
    signals += fired(engine.process([_tick(T0 + timedelta(days=120, hours=1))], tiers)[0])
    assert [dict(s.group_key) for s in signals] == [{"customer_id": "gold-1"}]
    assert signals[0].value == 3


def test_a_member_is_judged_only_once_a_whole_baseline_has_passed_since_their_first_order():
    engine = CommerceEngine(config(DROP))
    tiers = {"gold-1": "gold"}
    # two busy months, then none: the baseline (three windows) is not complete yet at day 90
    for item in _monthly_orders("gold-1", [9, 9]):
        engine.process([item], tiers)
    outcome, _ = engine.process([_tick(T0 + timedelta(days=90, hours=1))], tiers)
    assert not fired(outcome)
    outcome, _ = engine.process([_tick(T0 + timedelta(days=121))], tiers)
    (signal,) = fired(outcome)  # baseline 18 / 3 = 6 a month, last month 0
    assert signal.value == 0


def test_orders_are_counted_only_while_the_customer_is_a_member_of_the_tiers():
    engine = CommerceEngine(config(DROP))
    history = _monthly_orders("c", [6, 6, 6, 0])
    for item in history:
        engine.process([item], {"c": "silver"})  # not VIP while ordering: nothing counted
    outcome, _ = engine.process([_tick(T0 + timedelta(days=121))], {"c": "gold"})
    assert not fired(outcome)


def test_commerce_windows_survive_a_restart_from_their_persisted_cells():
    rules = config(REFUNDS, DROP)
    first = CommerceEngine(rules)
    tiers = {"gold-1": "gold"}
    cells: dict[tuple[str, Any, int], Cell] = {}
    for item in sorted(
        [
            *_monthly_orders("gold-1", [6, 6, 6, 2]),
            *[sale(T0 + timedelta(days=119, minutes=i)) for i in range(20)],
        ],
        key=lambda s: s.time_s,
    ):
        outcome, _ = first.process([item], tiers)
        cells |= {(c.rule_id, c.group_key, c.bucket): c for c in outcome.cells()}
    second = CommerceEngine(rules)
    second.restore(list(cells.values()), first.watermarks())
    assert second.watermarks() == first.watermarks()
    # both engines judge alike: three refunds on the day's 20 orders, then the drop at day 120
    probes = [
        [sale(T0 + timedelta(days=119, hours=1), refund=True)] * 3,
        [_tick(T0 + timedelta(days=120, hours=1))],
    ]
    for probe, expected in zip(
        probes,
        [("refunds", (("business_line", "retail"),)), ("vip-drop", (("customer_id", "gold-1"),))],
        strict=True,
    ):
        a = [(s.rule.id, s.group_key) for s in fired(first.process(probe, tiers)[0])]
        b = [(s.rule.id, s.group_key) for s in fired(second.process(probe, tiers)[0])]
        assert a == b == [expected]


def test_feedback_rules_ignore_commerce_rules_and_the_config_validates_them():
    rules = config(REFUNDS, DROP, {"id": "one", "kind": "per_feedback", "match": {"stars_max": 1}})
    assert [c.rule.id for c in RuleEngine(rules).rules] == ["one"]
    with pytest.raises(ValueError, match="threshold"):
        config({**REFUNDS, "threshold": 1.5})
    with pytest.raises(ValueError, match="tiers"):
        config({**DROP, "tiers": []})
