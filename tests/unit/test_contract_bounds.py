"""Every event type refuses values its consumers cannot store or compute with, and numbers or booleans where
they mean something else; the earning rules cannot make more points than the ledger holds."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from services.loyalty.earning import purchase_points
from services.loyalty.rules import (
    DEFAULT_RULES,
    MAX_MULTIPLIER,
    MAX_POINTS_PER_UNIT,
    LoyaltyRules,
    Promotion,
    load_rules,
)
from shared.contracts import TOPICS, InvalidMessage, decode
from shared.contracts.bounds import MAX_AMOUNT, MAX_BIGINT, MAX_POINTS
from shared.yamlconfig import ConfigError, parse_yaml

EXAMPLES = Path(__file__).resolve().parents[2] / "shared" / "contracts" / "examples"
ALL_EVENTS = [(spec, etype) for spec in TOPICS.values() for (etype, _version) in spec.events]
SPEC_OF = {etype: spec for spec, etype in ALL_EVENTS}
TIMES_OF = {  # each event type's own times, besides the envelope's
    "feedback.received": ["occurred_at"],
    "feedback.scored": ["occurred_at"],
    "purchase": ["occurred_at"],
    "expiry_reminder": ["at"],
    "tier_changed": ["effective_at"],
    "tier_downgrade_warning": ["effective_at"],
    **{f"alert.{t}": ["at"] for t in ("fired", "escalated", "acknowledged", "reminded", "resolved")},
    **{p: ["at"] for p in ("points_earned", "points_redeemed", "points_expired", "points_clawed_back")},
}
BAD_TIMES = [
    "0001-01-01T00:00:00+00:00",  # as seen: accepted, then no consumer could compute with it
    "1999-12-31T23:59:59Z",
    "2000-01-01T00:30:00+01:00",  # 1999 in UTC
    "2100-01-01T00:00:00Z",
    "9999-12-31T23:59:59Z",
    0,  # an integer is not a time
    1_700_000_000,
    1.5,
    "1700000000",
    True,
]


def example(event_type: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((EXAMPLES / SPEC_OF[event_type].name / f"{event_type}.json").read_text())
    return doc


def refused(event_type: str, doc: dict[str, Any]) -> str:
    """The reason decode gives for refusing `doc` (fails the test when it decodes)."""
    with pytest.raises(InvalidMessage) as caught:
        decode(SPEC_OF[event_type], json.dumps(doc).encode())
    return str(caught.value)


def with_value(doc: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """A copy of `doc` with the field at dotted `path` (list indices as digits) set to `value`."""
    copy: Any = json.loads(json.dumps(doc))
    *parents, last = path.split(".")
    node = copy
    for part in parents:
        node = node[int(part)] if part.isdigit() else node[part]
    node[int(last) if last.isdigit() else last] = value
    return dict(copy)


EDGE_TIMES = [
    "2000-01-01T00:00:00Z",
    "1999-12-31T23:30:00-01:00",  # 2000 in UTC
    "2099-12-31T23:59:59.999999Z",
    (datetime.now(UTC) + timedelta(days=800)).isoformat(),  # no "now" in the contracts: virtual clocks decode
]


@pytest.mark.parametrize("event_type", sorted(SPEC_OF))
def test_every_time_of_every_event_type_is_an_iso_string_within_the_window(event_type):
    doc = example(event_type)
    times = [f"payload.{name}" for name in TIMES_OF.get(event_type, [])]
    for path in ["occurred_at", "produced_at", *times]:
        for bad in BAD_TIMES:
            assert f"; {path}: " in refused(event_type, with_value(doc, path, bad)), (path, bad)
        for edge in EDGE_TIMES:
            decode(SPEC_OF[event_type], json.dumps(with_value(doc, path, edge)).encode())


OUT_OF_BOUNDS = [
    ("feedback.received", "payload.csat", True),
    ("feedback.received", "payload.nps", 3.5),
    ("feedback.received", "payload.nps", "3"),
    ("feedback.received", "payload.business_line", "x" * 101),
    ("feedback.received", "payload.pii_masked", {"email": True}),
    ("feedback.scored", "payload.stars_expected", True),
    ("feedback.scored", "payload.confidence", "0.5"),
    ("feedback.scored", "payload.customer_id", "c" * 201),
    ("feedback.scored", "payload.model.id", "m" * 201),
    ("feedback.scored", "payload.aspects", [{"name": "a", "label": "neutral", "keywords": ["k"] * 101}]),
    ("purchase", "payload.amount", "999999999999.99"),  # as seen: its points overflowed the ledger
    ("purchase", "payload.amount", "10000000000.00"),
    ("purchase", "payload.items.0.quantity", 10_000_000),
    ("purchase", "payload.items.0.quantity", True),
    ("purchase", "payload.items.0.unit_price", "10000000000"),
    ("purchase", "payload.store_id", "s" * 101),
    ("refund", "payload.amount", "999999999999.99"),
    ("alert.fired", "payload.count", True),
    ("alert.fired", "payload.count", 2**31),
    ("alert.fired", "payload.summary", "s" * 10_001),
    ("alert.fired", "payload.group_key", {"business_line": "b" * 201}),
    ("alert.resolved", "payload.actor", "a" * 201),
    ("points_earned", "payload.points", MAX_POINTS + 1),
    ("points_redeemed", "payload.points", -MAX_POINTS - 1),
    ("points_earned", "payload.balance", True),
    ("points_expired", "payload.balance", MAX_BIGINT + 1),
    ("points_earned", "payload.expires_on", "2200-01-01"),
    ("points_earned", "payload.expires_on", 0),
    ("points_clawed_back", "payload.reason", "r" * 501),
    ("expiry_reminder", "payload.points", MAX_BIGINT + 1),
    ("expiry_reminder", "payload.days_left", 1_000_000),
    ("tier_changed", "payload.qualifying_spend", "9" * 51),
]


@pytest.mark.parametrize(("event_type", "path", "bad"), OUT_OF_BOUNDS, ids=lambda v: str(v)[:30])
def test_values_no_consumer_can_store_are_refused_naming_the_field(event_type, path, bad):
    reason = refused(event_type, with_value(example(event_type), path, bad))
    assert f"; {path}" in reason, reason  # the field, or a part of it (a key, an item)


def test_amounts_up_to_the_maximum_with_cents_decode_and_a_cent_more_does_not():
    for event_type in ("purchase", "refund"):
        doc = example(event_type)
        for amount in (str(MAX_AMOUNT), "9999999999.990", "0.01"):
            decode(SPEC_OF[event_type], json.dumps(with_value(doc, "payload.amount", amount)).encode())
        assert "; payload.amount: " in refused(
            event_type, with_value(doc, "payload.amount", "10000000000.00")
        )
    earned = with_value(example("points_earned"), "payload.points", MAX_POINTS)
    decode(SPEC_OF["points_earned"], json.dumps(with_value(earned, "payload.balance", MAX_BIGINT)).encode())


def test_the_largest_purchase_under_the_largest_multipliers_fits_the_ledger():
    """Points per unit and both multipliers at their bounds: still within MAX_POINTS (a bigint holds many)."""
    assert MAX_AMOUNT * MAX_POINTS_PER_UNIT * MAX_MULTIPLIER * MAX_MULTIPLIER < MAX_POINTS
    rules = load_rules()
    rules = rules.model_copy(
        update={
            "points_per_currency_unit": MAX_POINTS_PER_UNIT,
            "rounding": "half_up",
            "tiers": [t.model_copy(update={"multiplier": MAX_MULTIPLIER}) for t in rules.tiers],
            "promotions": [Promotion(name="max", multiplier=MAX_MULTIPLIER)],
        }
    )
    at = datetime(2026, 11, 25, tzinfo=UTC)
    points, _ = purchase_points(MAX_AMOUNT, "diamond", at, None, rules)
    assert MAX_POINTS > points >= 10**13
    with pytest.raises(ValidationError, match="points_per_currency_unit"):
        LoyaltyRules.model_validate(
            {**rules.model_dump(), "points_per_currency_unit": MAX_POINTS_PER_UNIT + 1}
        )


@pytest.mark.parametrize(
    ("shipped", "changed", "field"),
    [
        ("points_per_currency_unit: 1", "points_per_currency_unit: 101", "points_per_currency_unit"),
        ("{points: 10,", "{points: 1000000000000000,", "rewards.feedback_submitted.points"),
        (
            "expiry_reminder_days: [30, 15, 3]",
            "expiry_reminder_days: [30, 15, 5000]",
            "expiry_reminder_days.2",
        ),
    ],
)
def test_earning_rules_that_could_overflow_the_ledger_are_refused(shipped, changed, field):
    text = DEFAULT_RULES.read_text()
    assert shipped in text
    with pytest.raises(ConfigError, match=r"rules:\d+: " + re.escape(field)):
        parse_yaml(text.replace(shipped, changed, 1), LoyaltyRules, "rules")


def test_a_boolean_version_is_not_version_1():
    assert "integer `version`" in refused(
        "survey_completed", with_value(example("survey_completed"), "version", True)
    )


@pytest.mark.parametrize(
    ("event_type", "path"),
    [
        ("feedback.received", "payload.nps"),
        ("purchase", "payload.items.0.quantity"),
    ],
)
def test_an_integer_spelled_as_an_integral_float_is_that_integer(event_type, path):
    """JSON Schema counts 3.0 as an integer; a boolean, a string or 3.5 is still refused."""
    event = decode(SPEC_OF[event_type], json.dumps(with_value(example(event_type), path, 3.0)).encode())
    value: Any = event.payload
    for part in path.split(".")[1:]:
        value = value[int(part)] if part.isdigit() else getattr(value, part)
    assert value == 3
    assert type(value) is int
    for bad in (True, 3.5, "3"):
        assert f"; {path}" in refused(event_type, with_value(example(event_type), path, bad)), bad
