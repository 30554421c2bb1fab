"""Escalation as a pure state machine over an alert's timers (virtual clock friendly).

An alert carries a snapshot of its policy, so editing the config never changes a running escalation.
Timers are absolute due times; each step is computed from the previous due time, not from "now", so a
service that was down catches up one step at a time and records each exactly once.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Literal
from zoneinfo import ZoneInfo

from services.alerting.rules import LEVELS, Layer, Policy, Rotation, RuleCore, Step, Target
from shared.contracts.alerts import AlertStatus, Level

Action = Literal["escalate", "remind", "ack_timeout"]
TIER_NAMES = ("bronze", "silver", "gold", "diamond")


@dataclass(frozen=True)
class Timers:
    status: AlertStatus
    level: Level
    policy: Policy
    timeout_factor: float
    next_action: Action | None
    next_action_at: datetime | None
    acked_at: datetime | None = None
    reminders: int = 0
    resolve_by: datetime | None = None
    """The resolution target (None: the policy sets none, or it was missed at the top level)."""


@dataclass(frozen=True)
class Transition:
    kind: Literal["escalated", "reminded", "reopened", "sla_missed"]
    at: datetime
    from_level: Level
    to_level: Level
    timers: Timers


def step_of(policy: Policy, level: Level) -> Step:
    """The policy's step for `level`, or the nearest lower one it defines."""
    candidates = [s for s in policy.steps if LEVELS.index(s.level) <= LEVELS.index(level)]
    return candidates[-1] if candidates else policy.steps[0]


def _next_step(policy: Policy, level: Level) -> Step | None:
    return next((s for s in policy.steps if LEVELS.index(s.level) > LEVELS.index(level)), None)


def _arm(policy: Policy, level: Level, factor: float, since: datetime) -> tuple[Action, datetime]:
    """The timer an open alert at `level` runs: escalate after the step's timeout, or remind at the top."""
    if _next_step(policy, level) is None:
        return "remind", since + policy.remind_every
    return "escalate", since + step_of(policy, level).timeout * factor


def open_timers(rule: RuleCore, policy: Policy, now: datetime, tier: int) -> Timers:
    """Timers of a newly fired alert: the rule's start level, raised and hurried for boosted tiers."""
    level, factor = rule.start_level, 1.0
    boost = rule.tier_boost
    if boost is not None and 0 <= tier < len(TIER_NAMES) and TIER_NAMES[tier] in boost.tiers:
        level = LEVELS[min(LEVELS.index(level) + boost.levels_up, len(LEVELS) - 1)]
        factor = boost.timeout_factor
    top = LEVELS.index(policy.steps[-1].level)
    level = LEVELS[min(LEVELS.index(level), top)]
    action, at = _arm(policy, level, factor, now)
    return Timers("open", level, policy, factor, action, at, resolve_by=_target(policy, level, factor, now))


def _target(policy: Policy, level: Level, factor: float, since: datetime) -> datetime | None:
    within = step_of(policy, level).resolve_within
    return None if within is None else since + within * factor


def acknowledge(timers: Timers, now: datetime) -> Timers:
    """Ack stops escalation; reminders follow every `remind_every` until the ack times out."""
    action, at = _after_ack(timers.policy, now, now)
    return replace(timers, status="acknowledged", acked_at=now, next_action=action, next_action_at=at)


def _after_ack(policy: Policy, acked_at: datetime, since: datetime) -> tuple[Action, datetime]:
    remind, timeout = since + policy.remind_every, acked_at + policy.ack_timeout
    return ("remind", remind) if remind < timeout else ("ack_timeout", timeout)


def resolve(timers: Timers) -> Timers:
    return replace(timers, status="resolved", next_action=None, next_action_at=None)


def due(timers: Timers, now: datetime) -> Transition | None:
    """The one transition due at `now`, if any (the earlier of the timer and the resolution target); call
    again with its timers until None."""
    if timers.status == "resolved":
        return None
    at, target = timers.next_action_at, timers.resolve_by
    # At the same instant as an escalation the missed target goes first: one level up, flagged, not two.
    if target is not None and target <= now and (at is None or timers.next_action is None or target <= at):
        return _missed(timers, target)
    if at is None or at > now or timers.next_action is None:
        return None
    policy, level = timers.policy, timers.level
    if timers.next_action == "escalate":
        step = _next_step(policy, level)
        if step is None:
            return None
        action, next_at = _arm(policy, step.level, timers.timeout_factor, at)
        return Transition(
            "escalated",
            at,
            level,
            step.level,
            replace(timers, level=step.level, next_action=action, next_action_at=next_at),
        )
    if timers.next_action == "ack_timeout":
        action, next_at = _arm(policy, level, timers.timeout_factor, at)
        reopened = replace(timers, status="open", acked_at=None, next_action=action, next_action_at=next_at)
        return Transition("reopened", at, level, level, reopened)
    acked_at = timers.acked_at if timers.status == "acknowledged" else None
    if acked_at is not None:
        action, next_at = _after_ack(policy, acked_at, at)
    else:
        action, next_at = "remind", at + policy.remind_every
    action, next_at = _skip_missed(policy, action, next_at, now, acked_at)
    reminded = replace(timers, next_action=action, next_action_at=next_at, reminders=timers.reminders + 1)
    return Transition("reminded", at, level, level, reminded)


def _missed(timers: Timers, target: datetime) -> Transition:
    """The resolution target passed: up one level, once (an open alert restarts its escalation timer
    there); at the top, only flagged. A cascade of targets would take every slow complaint to the CEO."""
    policy, level, factor = timers.policy, timers.level, timers.timeout_factor
    step = _next_step(policy, level)
    if step is None:
        return Transition("sla_missed", target, level, level, replace(timers, resolve_by=None))
    moved = replace(timers, level=step.level, resolve_by=None)
    if timers.status == "open":
        action, next_at = _arm(policy, step.level, factor, target)
        moved = replace(moved, next_action=action, next_action_at=next_at)
    return Transition("sla_missed", target, level, step.level, moved)


def _skip_missed(
    policy: Policy, action: Action, next_at: datetime, now: datetime, acked_at: datetime | None
) -> tuple[Action, datetime]:
    """A reminder whose successors are already due (the timer ran late: downtime, or an alert fired at an
    old event time) is the only one sent: the next lies in the future, as Alertmanager's repeat interval
    and PagerDuty's re-notification do; a backlog of reminders would page the same people at once."""
    if action != "remind" or next_at > now:
        return action, next_at
    next_at += ((now - next_at) // policy.remind_every + 1) * policy.remind_every
    if acked_at is not None and next_at >= acked_at + policy.ack_timeout:
        return "ack_timeout", acked_at + policy.ack_timeout
    return action, next_at


def _local(rotation: Rotation, value: str) -> datetime:
    return datetime.fromisoformat(value).replace(tzinfo=ZoneInfo(rotation.time_zone))


def _override_at(rotation: Rotation, at: datetime) -> str | None:
    covering = [o for o in rotation.overrides if _local(rotation, o.start) <= at < _local(rotation, o.end)]
    return covering[-1].person if covering else None


def _turn(rotation: Rotation, turns: Rotation | Layer, at: datetime) -> str:
    """Whose turn it is at `at` (hand-offs at `start` + n x shift, in the rotation's time zone)."""
    start = _local(rotation, turns.start)
    count = int((at - start) // turns.shift) if at >= start else -1
    return turns.people[count % len(turns.people)]


def _next_turn(rotation: Rotation, turns: Rotation | Layer, at: datetime) -> datetime:
    start = _local(rotation, turns.start)
    count = int((at - start) // turns.shift) + 1 if at >= start else 0
    return start + count * turns.shift


def on_call(rotation: Rotation, at: datetime) -> str:
    """Who holds the rotation at `at`: an override covering `at`, else the last listed layer whose window
    holds at `at`, else the rotation's own turn."""
    covering = _override_at(rotation, at)
    if covering is not None:
        return covering
    for layer in reversed(rotation.layers):
        if any(window.contains(at) for window in layer.during):
            return _turn(rotation, layer, at)
    return _turn(rotation, rotation, at)


def _edges(rotation: Rotation, at: datetime) -> list[datetime]:
    """Every instant after `at` where who is on call may change: turns, overrides, layer windows."""
    edges = [_next_turn(rotation, rotation, at)]
    for o in rotation.overrides:
        edges += [_local(rotation, o.start), _local(rotation, o.end)]
    for layer in rotation.layers:
        edges.append(_next_turn(rotation, layer, at))
        for window in layer.during:
            begins = window.next_start(at)
            edges += [window.end_after(at)] if window.contains(at) else []
            edges += [begins] if begins is not None else []
    return [edge for edge in edges if edge > at]


HANDOFF_EDGES = 64
"""How many edges ahead a hand-off is looked for: a person who stays on through them (a schedule of one)
is reported as handing over to themselves at the last one."""


def next_handoff(rotation: Rotation, at: datetime) -> tuple[datetime, str]:
    """When the person on call next changes after `at`, and who takes over."""
    now, edge = on_call(rotation, at), at
    for _ in range(HANDOFF_EDGES):
        edge = min(_edges(rotation, edge))
        following = on_call(rotation, edge)
        if following != now:
            return edge, following
    return edge, now


def recipients(step: Step, schedules: dict[str, Rotation], at: datetime) -> list[tuple[Target, str]]:
    """(target, who) for each target of a step; a schedule target resolves to the person on call."""
    out = []
    for target in step.targets:
        who = (
            on_call(schedules[target.name], at)
            if target.kind == "schedule" and target.name in schedules
            else target.name
        )
        out.append((target, who))
    return out
