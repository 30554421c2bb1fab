"""The KPI definitions, the business calendar and alert facts, as plain functions."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from services.insights.alertfacts import AlertTargets, advance
from services.insights.kpis import METRICS, add_working_days, build_series, evaluate, period_start
from services.insights.models import FEEDBACK_COUNTS
from shared.contracts.alerts import AlertChanged, CallbackChanged

SHANGHAI = ZoneInfo("Asia/Shanghai")
ZERO = dict.fromkeys(FEEDBACK_COUNTS, 0)


def test_nps_is_promoters_minus_detractors_over_responses_and_empty_cells_have_no_value():
    counts = {**ZERO, "volume": 12, "nps_n": 10, "promoters": 5, "detractors": 3}
    assert evaluate(METRICS["nps"], counts) == (20.0, 10, None)
    assert evaluate(METRICS["nps"], {**counts, "nps_n": 0}) is None
    assert evaluate(METRICS["csat_satisfied"], {**ZERO, "csat_n": 4, "csat_ok": 3}) == (75.0, 4, None)


def test_sla_metrics_report_minutes_and_the_share_within_target():
    counts = {"fired": 4, "acked": 2, "ack_seconds": 2 * 3600, "ack_ok": 1}
    counts |= {"resolved": 0, "resolve_seconds": 0, "resolve_ok": 0, "closed_ok": 0}
    assert evaluate(METRICS["response_time"], counts) == (60.0, 2, 50.0)
    assert evaluate(METRICS["closure_rate"], counts) == (0.0, 4, None)


def test_weeks_start_on_monday():
    assert period_start(date(2026, 12, 6), "week") == date(2026, 11, 30)  # a Sunday
    assert period_start(date(2026, 12, 7), "week") == date(2026, 12, 7)
    assert period_start(date(2026, 12, 6), "day") == date(2026, 12, 6)


def test_working_days_skip_weekends_in_the_business_time_zone():
    friday_morning = datetime(2026, 12, 4, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai
    due = add_working_days(friday_morning, 7, SHANGHAI)
    assert due.astimezone(SHANGHAI).replace(tzinfo=None) == datetime(
        2026, 12, 15, 10, 0
    )  # Tuesday after next
    # 01:00 on Saturday in Shanghai is still Friday in UTC: the weekend counts from Monday 00:00.
    saturday = datetime(2026, 12, 4, 17, 0, tzinfo=UTC)
    assert add_working_days(saturday, 1, SHANGHAI).astimezone(SHANGHAI).replace(tzinfo=None) == datetime(
        2026, 12, 8
    )


def test_compare_previous_pairs_each_point_with_the_period_before():
    counts = {**ZERO, "volume": 4, "negative": 1}
    rows = [
        (date(2026, 11, 23), (), counts),
        (date(2026, 11, 30), (), {**counts, "negative": 3}),
        (date(2026, 12, 14), (), counts),
    ]
    series = build_series(METRICS["negative_share"], rows, "week", date(2026, 11, 30), compare=True)
    points = series[()]
    assert [p.start for p in points] == [date(2026, 11, 30), date(2026, 12, 14)]  # 11-23 only as a previous
    assert points[0].previous is not None
    assert points[0].change == 50.0
    assert points[1].previous is None  # the week before (12-07) had nothing


TARGETS = AlertTargets(
    SHANGHAI,
    dict.fromkeys(("L1", "L2", "L3", "L4"), 7200.0),
    dict.fromkeys(("L1", "L2", "L3", "L4"), 86400.0),
    7,
)


def change(kind: str, alert_id: uuid.UUID, at: datetime, level: str = "L1") -> AlertChanged:
    status = {"alert.fired": "open", "alert.escalated": "open", "alert.acknowledged": "acknowledged"}
    return AlertChanged(
        alert_id=alert_id,
        rule_id="r",
        group_key={"business_line": "retail"},
        level=level,
        status=status.get(kind, "resolved"),
        count=1,
        summary="s",
        at=at,
    )


def test_an_alert_keeps_the_level_it_fired_at_and_its_first_answer():
    alert_id, at = uuid.uuid4(), datetime(2026, 12, 4, 2, 0, tzinfo=UTC)
    row = advance(None, "alert.fired", change("alert.fired", alert_id, at), {}, TARGETS)
    assert row is not None
    assert row["business_line"] == "retail"
    assert row["response_due_at"] == at + timedelta(hours=2)
    escalated = advance(
        row,
        "alert.escalated",
        change("alert.escalated", alert_id, at + timedelta(hours=3), "L2"),
        {},
        TARGETS,
    )
    assert escalated == row
    acked = advance(
        row,
        "alert.acknowledged",
        change("alert.acknowledged", alert_id, at + timedelta(hours=4)),
        {},
        TARGETS,
    )
    again = advance(
        acked,
        "alert.acknowledged",
        change("alert.acknowledged", alert_id, at + timedelta(hours=5)),
        {},
        TARGETS,
    )
    assert again is not None
    assert again["acknowledged_at"] == at + timedelta(hours=4)
    assert again["level"] == "L1"


def test_resolving_answers_an_unacknowledged_alert_and_unseen_alerts_are_not_recorded():
    alert_id, at = uuid.uuid4(), datetime(2026, 12, 4, 2, 0, tzinfo=UTC)
    row = advance(None, "alert.fired", change("alert.fired", alert_id, at), {}, TARGETS)
    resolved = advance(
        row, "alert.resolved", change("alert.resolved", alert_id, at + timedelta(hours=1)), {}, TARGETS
    )
    assert resolved is not None
    assert resolved["acknowledged_at"] == resolved["resolved_at"] == at + timedelta(hours=1)
    assert advance(None, "alert.resolved", change("alert.resolved", uuid.uuid4(), at), {}, TARGETS) is None


def test_a_case_carries_its_callback_and_a_done_callback_stays_done():
    alert_id, at = uuid.uuid4(), datetime(2026, 12, 4, 2, 0, tzinfo=UTC)
    due = at + timedelta(hours=72)

    def called(kind: str, when: datetime, nps: int | None = None) -> CallbackChanged:
        done = when if kind == "callback.done" else None
        return CallbackChanged(
            callback_id=alert_id, alert_id=alert_id, rule_id="r", customer_id="C1", due_at=due,
            done_at=done, nps=nps, at=when,
        )  # fmt: skip

    assert advance(None, "callback.scheduled", called("callback.scheduled", at), {}, TARGETS) is None
    row = advance(None, "alert.fired", change("alert.fired", alert_id, at), {}, TARGETS)
    scheduled = advance(row, "callback.scheduled", called("callback.scheduled", at), {}, TARGETS)
    assert scheduled is not None
    assert (scheduled["callback_due_at"], scheduled["callback_done_at"]) == (due, None)
    done = advance(
        scheduled, "callback.done", called("callback.done", at + timedelta(hours=5), 4), {}, TARGETS
    )
    assert done is not None
    assert (done["callback_done_at"], done["callback_nps"]) == (at + timedelta(hours=5), 4)
    # a scheduled event redelivered after the answer changes nothing
    assert advance(done, "callback.scheduled", called("callback.scheduled", at), {}, TARGETS) == done


def test_callback_metrics_are_the_share_done_on_time_and_the_nps_of_the_answers():
    counts = {"callbacks": 5, "callbacks_done": 4, "callbacks_on_time": 3}
    counts |= {"callback_promoters": 2, "callback_detractors": 1}
    assert evaluate(METRICS["callbacks"], counts) == (5.0, 5, None)
    assert evaluate(METRICS["callback_on_time"], counts) == (75.0, 4, None)
    assert evaluate(METRICS["callback_nps"], counts) == (25.0, 4, None)
    assert evaluate(METRICS["callback_nps"], {**counts, "callbacks_done": 0}) is None
