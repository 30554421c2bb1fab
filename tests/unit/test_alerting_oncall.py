"""On-call schedules: turns, overrides (someone covers a time range), and who is next when."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from services.alerting.escalation import next_handoff, on_call
from services.alerting.rules import Override, Rotation

SHANGHAI = ZoneInfo("Asia/Shanghai")
WEEKLY = Rotation(people=["wang", "li", "zhang"], start="2026-01-05T09:00", shift="7d")


def at(day: int, hour: int = 12) -> datetime:
    return datetime(2026, 1, day, hour, tzinfo=SHANGHAI)


def test_turns_hand_off_every_shift_in_the_rotations_time_zone():
    assert [on_call(WEEKLY, at(d)) for d in (5, 11, 12, 19, 26)] == ["wang", "wang", "li", "zhang", "wang"]
    assert on_call(WEEKLY, at(12, 8)) == "wang", "the hand-off is at 09:00 local"
    assert next_handoff(WEEKLY, at(6)) == (at(12, 9), "li")


def test_an_override_covers_its_range_and_the_turn_resumes_after_it():
    covered = WEEKLY.model_copy(
        update={"overrides": [Override(person="zhao", start="2026-01-07T18:00", end="2026-01-08T09:00")]}
    )
    assert on_call(covered, at(7, 17)) == "wang"
    assert on_call(covered, at(7, 18)) == "zhao"
    assert on_call(covered, at(8, 9)) == "wang"
    assert next_handoff(covered, at(7, 12)) == (at(7, 18), "zhao")
    assert next_handoff(covered, at(7, 20)) == (at(8, 9), "wang")
    assert next_handoff(covered, at(8, 10)) == (at(12, 9), "li")


def test_the_last_listed_override_wins_where_two_overlap_and_a_backwards_one_is_refused():
    overlapping = WEEKLY.model_copy(
        update={
            "overrides": [
                Override(person="zhao", start="2026-01-07T00:00", end="2026-01-09T00:00"),
                Override(person="sun", start="2026-01-08T00:00", end="2026-01-08T12:00"),
            ]
        }
    )
    assert [on_call(overlapping, at(d, h)) for d, h in ((7, 12), (8, 6), (8, 13))] == ["zhao", "sun", "zhao"]
    with pytest.raises(ValidationError, match="end must be after start"):
        Override(person="x", start="2026-01-08T12:00", end="2026-01-08T12:00")
