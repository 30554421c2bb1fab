"""On-call schedules: turns, overrides (someone covers a time range), and who is next when."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from services.alerting.lifecycle.escalation import next_handoff, on_call
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


NIGHTS = {
    "people": ["zhao", "qian"],
    "start": "2026-01-05T22:00",
    "shift": "7d",
    "during": [
        {"weekdays": ["monday:friday"], "times": [{"start_time": "22:00", "end_time": "24:00"}]},
        {"weekdays": ["tuesday:saturday"], "times": [{"start_time": "00:00", "end_time": "08:00"}]},
    ],
}
WEEKENDS = {
    "people": ["sun"],
    "start": "2026-01-03T00:00",
    "during": [{"weekdays": ["saturday:sunday"]}],
}
LAYERED = Rotation.model_validate({**WEEKLY.model_dump(), "layers": [NIGHTS, WEEKENDS]})


def test_a_night_layer_covers_its_hours_over_the_day_rotation_and_hands_back_in_the_morning():
    # 2026-01-05 is a Monday; the day rotation is wang's week, the night layer zhao's
    assert on_call(LAYERED, at(5, 12)) == "wang"
    assert on_call(LAYERED, at(5, 23)) == "zhao"
    assert on_call(LAYERED, at(6, 3)) == "zhao", "past midnight the second window of the layer holds"
    assert on_call(LAYERED, at(6, 8)) == "wang"
    assert next_handoff(LAYERED, at(5, 12)) == (at(5, 22), "zhao")
    assert next_handoff(LAYERED, at(5, 23)) == (at(6, 8), "wang"), "24:00 → 00:00 is no hand-off"
    assert on_call(LAYERED, at(13, 23)) == "qian", "the layer's own turns"


def test_the_last_listed_layer_wins_and_an_override_beats_every_layer():
    assert on_call(LAYERED, at(10, 23)) == "sun", "Saturday night: the weekend layer, listed last"
    assert on_call(LAYERED, at(10, 3)) == "sun"
    # the weekend ends at Monday 00:00, where no night window holds (they begin on Tuesday's small hours)
    assert next_handoff(LAYERED, at(11, 12)) == (at(12, 0), "wang")
    covered = LAYERED.model_copy(
        update={"overrides": [Override(person="zhou", start="2026-01-05T21:00", end="2026-01-06T01:00")]}
    )
    assert on_call(covered, at(5, 23)) == "zhou"
    assert next_handoff(covered, at(5, 23)) == (at(6, 1), "zhao")


def test_a_layer_needs_a_window():
    with pytest.raises(ValidationError, match="during"):
        Rotation.model_validate({**WEEKLY.model_dump(), "layers": [{**NIGHTS, "during": []}]})
