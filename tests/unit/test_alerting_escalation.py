"""Escalation with a virtual clock: 2 h / 24 h / 72 h, ack, ack timeout, reminders, resolve, catch-up."""

from datetime import UTC, datetime, timedelta

from services.alerting.lifecycle.escalation import acknowledge, due, on_call, open_timers, resolve
from services.alerting.rules import Policy, Rotation, load_rules

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
CONFIG = load_rules()
SHIPPED = CONFIG.policies["default"]
POLICY = Policy.model_validate(
    {**SHIPPED.model_dump(), "steps": [{**s, "resolve_within": None} for s in SHIPPED.model_dump()["steps"]]}
)
"""The shipped policy's timeouts without its resolution targets (tested on their own below)."""
ONE_STAR = next(r for r in CONFIG.rules if r.id == "one-star-feedback")
GOLD, NONE = 2, -1


def run_until(timers, now):
    """Every transition due up to `now`, in order (what the durable timer loop does after downtime)."""
    out = []
    while (transition := due(timers, now)) is not None:
        out.append(transition)
        timers = transition.timers
    return timers, out


def test_unacknowledged_alert_escalates_after_2_h_then_24_h_then_72_h():
    timers = open_timers(ONE_STAR, POLICY, T0, NONE)
    assert (timers.level, timers.next_action_at) == ("L1", T0 + timedelta(hours=2))
    assert due(timers, T0 + timedelta(hours=1, minutes=59)) is None
    timers, steps = run_until(timers, T0 + timedelta(hours=2))
    assert [(s.from_level, s.to_level) for s in steps] == [("L1", "L2")]
    timers, steps = run_until(timers, T0 + timedelta(hours=2 + 24 + 72))
    assert [(s.to_level, s.at) for s in steps] == [
        ("L3", T0 + timedelta(hours=26)),
        ("L4", T0 + timedelta(hours=98)),
    ]


def test_restart_after_downtime_catches_up_each_level_once_and_sends_one_reminder_not_a_backlog():
    timers = open_timers(ONE_STAR, POLICY, T0, NONE)
    later = T0 + timedelta(days=30)
    timers, steps = run_until(timers, later)
    assert [s.to_level for s in steps if s.kind == "escalated"] == ["L2", "L3", "L4"]
    reminders = [s.at for s in steps if s.kind == "reminded"]
    assert reminders == [T0 + timedelta(hours=2 + 24 + 72 + 24)]  # the first one due at the top, only
    assert later < timers.next_action_at <= later + POLICY.remind_every  # the next on the 24 h grid
    assert (timers.next_action_at - reminders[0]) % POLICY.remind_every == timedelta(0)
    _, again = run_until(timers, timers.next_action_at)
    assert [s.kind for s in again] == ["reminded"]


def test_an_acknowledged_alert_late_past_its_ack_timeout_reminds_once_then_reopens():
    policy = Policy.model_validate({**POLICY.model_dump(), "ack_timeout": "72h"})
    acked = acknowledge(open_timers(ONE_STAR, policy, T0, NONE), T0)
    _, steps = run_until(acked, T0 + timedelta(days=10))
    assert [s.kind for s in steps][:2] == ["reminded", "reopened"]
    assert steps[1].at == T0 + timedelta(hours=72)


def test_gold_member_one_star_starts_at_level_2_with_halved_timeouts():
    timers = open_timers(ONE_STAR, POLICY, T0, GOLD)
    assert timers.level == "L2"
    assert timers.next_action_at == T0 + timedelta(hours=12)


def test_ack_stops_escalation_and_reminds_every_24_h_until_the_ack_times_out():
    policy = Policy.model_validate({**POLICY.model_dump(), "ack_timeout": "72h"})
    timers = acknowledge(open_timers(ONE_STAR, policy, T0, NONE), T0 + timedelta(hours=1))
    steps = []
    for hours in (1 + 24, 1 + 48, 1 + 71):  # the timer loop running on time
        timers, now_due = run_until(timers, T0 + timedelta(hours=hours))
        steps += now_due
    assert [(s.kind, s.at) for s in steps] == [
        ("reminded", T0 + timedelta(hours=25)),
        ("reminded", T0 + timedelta(hours=49)),
    ]
    assert all(s.to_level == "L1" for s in steps)
    timers, steps = run_until(timers, T0 + timedelta(hours=1 + 72))
    assert [s.kind for s in steps] == ["reopened"]
    assert timers.status == "open"
    timers, steps = run_until(timers, T0 + timedelta(hours=1 + 72 + 2))
    assert [s.to_level for s in steps] == ["L2"]


def test_resolve_ends_everything():
    timers = resolve(open_timers(ONE_STAR, POLICY, T0, NONE))
    assert run_until(timers, T0 + timedelta(days=90))[1] == []


def test_on_call_rotation_hands_off_weekly_in_its_time_zone():
    rotation = Rotation(
        people=["a", "b", "c"], start="2026-01-05T09:00", shift=timedelta(days=7), time_zone="Asia/Shanghai"
    )
    first = datetime(2026, 1, 5, 1, 0, tzinfo=UTC)  # 09:00 in Shanghai
    assert on_call(rotation, first) == "a"
    assert on_call(rotation, first - timedelta(minutes=1)) == "c"
    assert on_call(rotation, first + timedelta(days=7)) == "b"
    assert on_call(rotation, first + timedelta(days=21)) == "a"


def test_an_acknowledged_alert_unresolved_past_its_target_moves_up_once_and_stays_acknowledged():
    acked = acknowledge(open_timers(ONE_STAR, SHIPPED, T0, NONE), T0 + timedelta(minutes=30))
    assert acked.resolve_by == T0 + timedelta(hours=24)
    assert due(acked, T0 + timedelta(hours=23, minutes=59)) is None
    timers, steps = run_until(acked, T0 + timedelta(hours=24))
    assert [(s.kind, s.from_level, s.to_level, s.at) for s in steps] == [
        ("sla_missed", "L1", "L2", T0 + timedelta(hours=24))
    ]
    assert (timers.status, timers.resolve_by) == ("acknowledged", None)
    _, later = run_until(timers, T0 + timedelta(hours=70))
    assert {s.kind for s in later} == {"reminded"}  # no further target, no escalation while acknowledged


def test_an_open_alert_missing_its_target_with_an_escalation_due_moves_up_one_level_not_two():
    gold = open_timers(ONE_STAR, SHIPPED, T0, GOLD)  # L2, targets and timeouts halved: both at 12 h
    assert gold.resolve_by == gold.next_action_at == T0 + timedelta(hours=12)
    timers, steps = run_until(gold, T0 + timedelta(hours=12))
    assert [(s.kind, s.to_level) for s in steps] == [("sla_missed", "L3")]
    assert timers.next_action_at == T0 + timedelta(hours=12 + 36)  # L3's 72 h, halved, from the miss


def test_at_the_top_level_a_missed_target_is_only_flagged_and_a_resolved_alert_misses_none():
    top = Policy.model_validate(
        {
            "steps": [
                {
                    "level": "L1",
                    "timeout": "2h",
                    "resolve_within": "1h",
                    "targets": [{"kind": "team", "name": "t"}],
                }
            ]
        }
    )
    timers, steps = run_until(open_timers(ONE_STAR, top, T0, NONE), T0 + timedelta(hours=1))
    assert [(s.kind, s.from_level, s.to_level) for s in steps] == [("sla_missed", "L1", "L1")]
    assert timers.resolve_by is None
    assert due(resolve(open_timers(ONE_STAR, SHIPPED, T0, NONE)), T0 + timedelta(days=3)) is None
