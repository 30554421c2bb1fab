"""An alert's fact row as its transitions arrive: when it fired, was first answered and resolved, the
targets in force when it fired (a policy changed later does not rewrite how past alerts did), and the
callback (回访) that followed it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

from services.insights.kpis import add_working_days, local_day
from shared.contracts.alerts import AlertChanged, CallbackChanged, Level

DIMENSIONS = ("business_line", "channel", "region", "store_id", "tier")


@dataclass(frozen=True)
class AlertTargets:
    zone: ZoneInfo
    response_s: Mapping[Level, float]
    resolution_s: Mapping[Level, float]
    closure_working_days: int


def advance(
    row: Mapping[str, Any] | None,
    kind: str,
    alert: AlertChanged | CallbackChanged,
    evidence: Mapping[UUID, Mapping[str, Any]],
    targets: AlertTargets,
) -> dict[str, Any] | None:
    """The row after `kind` (an alerts.v1 event type), or None when there is nothing to record: a
    transition of an alert whose firing was never seen cannot be timed. The level is the one the alert
    fired at: its response and resolution count against that level's targets, escalated or not.
    Resolving answers an alert that nobody acknowledged first. A callback's events fill in the
    callback of the case it follows (scheduled when due, done when and with which answer)."""
    if isinstance(alert, CallbackChanged):
        return None if row is None else _called_back(row, kind, alert)
    if kind == "alert.fired":
        return dict(row) if row is not None else _fired(alert, evidence, targets)
    if row is None:
        return None
    after = dict(row)
    at = max(alert.at, row["fired_at"])
    if kind == "alert.acknowledged" and after["acknowledged_at"] is None:
        after["acknowledged_at"] = at
    elif kind == "alert.resolved" and after["resolved_at"] is None:
        after["resolved_at"] = at
        after["acknowledged_at"] = after["acknowledged_at"] or at
    return after


def _called_back(row: Mapping[str, Any], kind: str, callback: CallbackChanged) -> dict[str, Any]:
    after = dict(row)
    if after["callback_done_at"] is None:  # a done callback stays done, whatever arrives after it
        after["callback_due_at"] = callback.due_at
        if kind == "callback.done" and callback.done_at is not None:
            after["callback_done_at"], after["callback_nps"] = callback.done_at, callback.nps
    return after


def _fired(
    alert: AlertChanged, evidence: Mapping[UUID, Mapping[str, Any]], targets: AlertTargets
) -> dict[str, Any]:
    at = alert.at
    source = evidence.get(alert.feedback_ids[0]) if alert.feedback_ids else None
    labels: Mapping[str, Any] = source if source is not None else alert.group_key
    return {
        "alert_id": alert.alert_id,
        "rule_id": alert.rule_id,
        "level": alert.level,
        "day": local_day(at, targets.zone),
        **{name: str(labels.get(name) or "") for name in DIMENSIONS},
        "customer_id": alert.customer_id,
        "feedback_ids": list(alert.feedback_ids),
        "summary": alert.summary,
        "fired_at": at,
        "acknowledged_at": None,
        "resolved_at": None,
        "response_due_at": at + timedelta(seconds=targets.response_s[alert.level]),
        "resolution_due_at": at + timedelta(seconds=targets.resolution_s[alert.level]),
        "closure_due_at": add_working_days(at, targets.closure_working_days, targets.zone),
        "callback_due_at": None,
        "callback_done_at": None,
        "callback_nps": None,
    }


def elapsed_s(row: Mapping[str, Any], until: str) -> float | None:
    end: datetime | None = row.get(until)
    return None if end is None else (end - row["fired_at"]).total_seconds()
