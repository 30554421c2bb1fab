"""Recurring mute windows and inhibition rules, with Alertmanager's semantics.

A time interval (Alertmanager's `time_intervals`) holds at an instant when every one of its given
fields does: a weekday range and clock-time ranges, read in its IANA `location`. A policy step or a target
that names mute intervals does not page during them: the page is deferred to the end of the window (and
dropped then if the alert is no longer open), so a quiet night is quiet and the morning still hears of
what is still wrong.

An inhibition rule holds notifications of alerts matching its `target` labels while an alert matching its
`source` labels is open with the same values of the `equal` labels: an open systemic alert for a business
line holds the per-feedback pages of that line, which say the same thing one complaint at a time.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, time, timedelta
from typing import Any, Self
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_CLOCK = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$|^24:00$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TimeRange(_Strict):
    """[start_time, end_time) on the clock, "HH:MM"; end_time may be "24:00"."""

    start_time: str = Field(pattern=_CLOCK.pattern)
    end_time: str = Field(pattern=_CLOCK.pattern)

    @model_validator(mode="after")
    def ordered(self) -> Self:
        if self.end_time <= self.start_time:
            raise ValueError("end_time must be after start_time (split a range that crosses midnight in two)")
        return self

    def minutes(self) -> tuple[int, int]:
        def of(clock: str) -> int:
            hours, minutes = clock.split(":")
            return int(hours) * 60 + int(minutes)

        return of(self.start_time), of(self.end_time)


class TimeInterval(_Strict):
    """Weekdays ("monday", "monday:friday") and clock ranges in `location`; an empty field holds always."""

    weekdays: list[str] = Field(default_factory=list)
    times: list[TimeRange] = Field(default_factory=list)
    location: str = "Asia/Shanghai"

    @field_validator("weekdays")
    @classmethod
    def known_days(cls, value: list[str]) -> list[str]:
        for entry in value:
            if any(day not in WEEKDAYS for day in entry.split(":")) or entry.count(":") > 1:
                raise ValueError(f"{entry!r}: a weekday or a range such as monday:friday")
        return value

    @field_validator("location")
    @classmethod
    def known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    def _days(self) -> set[int]:
        days: set[int] = set()
        for entry in self.weekdays:
            first, _, last = entry.partition(":")
            start, end = WEEKDAYS.index(first), WEEKDAYS.index(last or first)
            days |= {d % 7 for d in range(start, end + 1 if end >= start else end + 8)}
        return days

    def _range_at(self, local: datetime) -> tuple[int, int] | None:
        """The clock range (minutes) holding at `local`, (0, 1440) when no ranges are given."""
        if not self.times:
            return 0, 24 * 60
        minute = local.hour * 60 + local.minute
        return next((r for r in (t.minutes() for t in self.times) if r[0] <= minute < r[1]), None)

    def contains(self, at: datetime) -> bool:
        local = at.astimezone(ZoneInfo(self.location))
        if self.weekdays and local.weekday() not in self._days():
            return False
        return self._range_at(local) is not None

    def next_start(self, at: datetime) -> datetime | None:
        """The first instant after `at` at which a stretch of this interval begins (within 8 days)."""
        zone = ZoneInfo(self.location)
        local = at.astimezone(zone)
        starts = sorted(r.minutes()[0] for r in self.times) or [0]
        for day in range(8):
            date = local.date() + timedelta(days=day)
            if self.weekdays and date.weekday() not in self._days():
                continue
            for minute in starts:
                begins = datetime.combine(date, time(0), tzinfo=zone) + timedelta(minutes=minute)
                if begins > at:
                    return begins
        return None

    def end_after(self, at: datetime) -> datetime:
        """When the stretch of this interval holding at `at` ends (at the end of its clock range)."""
        local = at.astimezone(ZoneInfo(self.location))
        found = self._range_at(local)
        end_minute = found[1] if found else local.hour * 60 + local.minute + 1
        midnight = datetime.combine(local.date(), time(0), tzinfo=local.tzinfo)
        return midnight + timedelta(minutes=end_minute)


def describe(interval: TimeInterval) -> str:
    """What a person reads in the console, e.g. "monday:friday 22:00–24:00, 00:00–08:00 (Asia/Shanghai)"."""
    days = ", ".join(interval.weekdays) or "every day"
    times = ", ".join(f"{r.start_time}–{r.end_time}" for r in interval.times) or "all day"
    return f"{days} {times} ({interval.location})"


def muted_until(intervals: Sequence[TimeInterval], at: datetime) -> datetime | None:
    """The first instant from `at` on outside every interval (UTC), or None when `at` is outside them
    all."""
    t, moved = at, False
    for _ in range(64):  # each step ends one interval's stretch; a week of stretches is far fewer
        holding = [i.end_after(t) for i in intervals if i.contains(t)]
        if not holding:
            break
        t, moved = min(holding), True
    return t.astimezone(UTC) if moved else None


class InhibitRule(_Strict):
    """While an open alert has every `source` label, alerts with every `target` label and the same
    values of the `equal` labels are not notified."""

    source: dict[str, str] = Field(min_length=1)
    target: dict[str, str] = Field(min_length=1)
    equal: list[str] = Field(default_factory=list)

    @field_validator("source")
    @classmethod
    def names_a_rule(cls, value: dict[str, str]) -> dict[str, str]:
        # Source alerts are looked up by rule at every notification decision: an index, not a scan.
        if not value.get("rule"):
            raise ValueError("source must name a rule (e.g. {rule: negative-share-by-business-line})")
        return value


def _holds(matchers: Mapping[str, str], labels: Mapping[str, Any]) -> bool:
    return all(str(labels.get(name, "")) == value for name, value in matchers.items())


def inhibited(
    rules: Sequence[InhibitRule], labels: Mapping[str, Any], sources: Sequence[Mapping[str, Any]]
) -> InhibitRule | None:
    """The first rule by which one of the open `sources` (their labels) inhibits an alert of `labels`."""
    for rule in rules:
        if not _holds(rule.target, labels):
            continue
        for source in sources:
            if source.get("alert_id") == labels.get("alert_id"):
                continue
            if _holds(rule.source, source) and all(
                str(source.get(n, "")) == str(labels.get(n, "")) for n in rule.equal
            ):
                return rule
    return None
