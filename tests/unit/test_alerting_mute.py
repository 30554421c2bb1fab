"""Mute windows (Alertmanager's time_intervals) and inhibition rules: when a window holds, when a page
waits until, and which open alert inhibits which."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from services.alerting.lifecycle.mute import InhibitRule, TimeInterval, TimeRange, inhibited, muted_until
from services.alerting.rules import AlertingConfig, load_rules

NIGHTS = TimeInterval(
    weekdays=["monday:friday"],
    times=[TimeRange(start_time="22:00", end_time="24:00"), TimeRange(start_time="00:00", end_time="08:00")],
    location="Asia/Shanghai",
)


def shanghai(day: int, hour: int, minute: int = 0) -> datetime:
    """A time in Shanghai in January 2026 (the 5th is a Monday)."""
    return datetime(2026, 1, day, hour, minute, tzinfo=ZoneInfo("Asia/Shanghai"))


@pytest.mark.parametrize(
    ("at", "inside"),
    [
        (shanghai(5, 23), True),  # Monday 23:00
        (shanghai(6, 7, 59), True),  # Tuesday 07:59
        (shanghai(6, 8), False),  # Tuesday 08:00: the range ends before it
        (shanghai(6, 12), False),
        (shanghai(10, 23), False),  # Saturday night
        (shanghai(11, 3), False),  # Sunday 03:00
    ],
)
def test_a_window_holds_on_its_weekdays_within_its_hours_in_its_time_zone(at, inside):
    assert NIGHTS.contains(at) is inside


def test_a_page_inside_a_window_waits_until_the_window_ends_across_midnight():
    assert muted_until([NIGHTS], shanghai(5, 23, 30)) == shanghai(6, 8)
    assert muted_until([NIGHTS], shanghai(6, 12)) is None
    # Friday night 23:00 runs to midnight; Saturday is not a weekday of the window.
    assert muted_until([NIGHTS], shanghai(9, 23)) == shanghai(10, 0)
    lunch = TimeInterval(times=[TimeRange(start_time="07:30", end_time="09:00")], location="Asia/Shanghai")
    assert muted_until([NIGHTS, lunch], shanghai(6, 2)) == shanghai(6, 9), "overlapping windows chain"


def test_a_weekday_range_may_wrap_the_week():
    weekend = TimeInterval(weekdays=["saturday:monday"], location="UTC")
    assert weekend.contains(datetime(2026, 1, 5, 12, tzinfo=UTC))  # Monday
    assert not weekend.contains(datetime(2026, 1, 6, 12, tzinfo=UTC))  # Tuesday
    assert muted_until([weekend], datetime(2026, 1, 10, 12, tzinfo=UTC)) == datetime(2026, 1, 13, tzinfo=UTC)


@pytest.mark.parametrize(
    ("entry", "error"),
    [
        ({"weekdays": ["mon"]}, "a weekday or a range"),
        ({"times": [{"start_time": "09:00", "end_time": "08:00"}]}, "end_time must be after start_time"),
        ({"times": [{"start_time": "9:00", "end_time": "10:00"}]}, "String should match pattern"),
        ({"location": "Mars/Olympus"}, "unknown time zone"),
    ],
)
def test_a_malformed_window_is_refused_naming_what_is_wrong(entry, error):
    with pytest.raises(ValidationError, match=error):
        TimeInterval.model_validate(entry)


def test_a_step_naming_an_undefined_window_and_a_source_without_a_rule_are_refused():
    doc = load_rules().model_dump(mode="json")
    doc["policies"]["default"]["steps"][0]["mute_time_intervals"] = ["lunch"]
    with pytest.raises(ValidationError, match="unknown time interval 'lunch'"):
        AlertingConfig.model_validate(doc)
    with pytest.raises(ValidationError, match="source must name a rule"):
        InhibitRule(source={"business_line": "retail"}, target={"rule": "x"})


def test_an_open_source_alert_inhibits_targets_with_equal_labels_but_not_itself():
    rule = InhibitRule(
        source={"rule": "negative-share"}, target={"rule": "one-star"}, equal=["business_line"]
    )
    source = {"rule": "negative-share", "business_line": "retail", "alert_id": "s"}
    assert (
        inhibited([rule], {"rule": "one-star", "business_line": "retail", "alert_id": "t"}, [source]) == rule
    )
    assert (
        inhibited([rule], {"rule": "one-star", "business_line": "hotel", "alert_id": "t"}, [source]) is None
    )
    assert inhibited([rule], {"rule": "other", "business_line": "retail", "alert_id": "t"}, [source]) is None
    same = InhibitRule(source={"rule": "one-star"}, target={"rule": "one-star"}, equal=["business_line"])
    itself = {"rule": "one-star", "business_line": "retail", "alert_id": "a"}
    assert inhibited([same], itself, [itself]) is None
