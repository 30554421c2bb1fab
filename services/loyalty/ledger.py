"""Points held in lots: earning, spending oldest-first, clawing back, expiring. Pure, no I/O.

An `Account` is one member's open lots plus the ledger entries an operation appends. Invariants (tested
with hypothesis): the balance equals the sum of the entries and of the lots' remaining points, and never
goes below zero; what every lot earned is either remaining, spent, clawed back or expired.
"""

from __future__ import annotations

import calendar
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Literal

EntryKind = Literal["earned", "redeemed", "redemption_reversed", "clawed_back", "expired"]


class InsufficientPoints(Exception):
    def __init__(self, wanted: int, available: int) -> None:
        super().__init__(f"{wanted} points wanted, {available} available")
        self.wanted, self.available = wanted, available


@dataclass(frozen=True)
class Lot:
    lot_id: str
    earned_at: datetime
    expires_at: datetime
    points: int
    remaining: int


@dataclass(frozen=True)
class Draw:
    lot_id: str
    points: int


@dataclass(frozen=True)
class Entry:
    """One ledger line; `points` is signed. `draws` says which lots a debit came from."""

    kind: EntryKind
    points: int
    at: datetime
    source: str
    reason: str
    draws: tuple[Draw, ...] = ()
    lot_id: str | None = None


def add_months(moment: datetime, months: int) -> datetime:
    """Same day `months` later, clamped to the month's end (31 Jan + 1 month = 28/29 Feb)."""
    month_index = moment.month - 1 + months
    year, month = moment.year + month_index // 12, month_index % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


@dataclass
class Account:
    lots: list[Lot] = field(default_factory=list)
    entries: list[Entry] = field(default_factory=list)

    def balance(self, now: datetime) -> int:
        return sum(lot.remaining for lot in self.lots if lot.expires_at > now)

    def earn(self, points: int, at: datetime, source: str, reason: str, expiry_months: int) -> Entry:
        if points <= 0:
            raise ValueError("earned points must be positive")
        lot = Lot(source, at, add_months(at, expiry_months), points, points)
        self.lots.append(lot)
        return self._append(Entry("earned", points, at, source, reason, lot_id=lot.lot_id))

    def redeem(self, points: int, at: datetime, source: str, reason: str) -> Entry:
        """Spend from the lots expiring first; InsufficientPoints (and nothing changed) if short."""
        available = self.balance(at)
        if points <= 0 or points > available:
            raise InsufficientPoints(points, available)
        return self._append(Entry("redeemed", -points, at, source, reason, self._draw(points, at)))

    def reverse_redemption(self, redemption: Entry, at: datetime, source: str) -> Entry:
        """Give back what a redemption drew to the same lots; points of lots since expired stay expired."""
        restored = []
        for draw in redemption.draws:
            index = next((i for i, lot in enumerate(self.lots) if lot.lot_id == draw.lot_id), None)
            if index is not None and self.lots[index].expires_at > at:
                lot = self.lots[index]
                self.lots[index] = replace(lot, remaining=lot.remaining + draw.points)
                restored.append(draw)
        points = sum(d.points for d in restored)
        return self._append(
            Entry("redemption_reversed", points, at, source, "redemption reversed", tuple(restored))
        )

    def claw_back(
        self, points: int, at: datetime, source: str, reason: str, from_lot: str | None = None
    ) -> Entry:
        """Take back up to `points`, from `from_lot` first, then oldest-first; never below zero."""
        draws: list[Draw] = []
        wanted = min(points, self.balance(at))
        if from_lot is not None:
            draws += self._draw(wanted, at, only=from_lot)
        rest = wanted - sum(d.points for d in draws)
        if rest > 0:
            draws += self._draw(rest, at)
        taken = sum(d.points for d in draws)
        return self._append(Entry("clawed_back", -taken, at, source, reason, tuple(draws)))

    def expire(self, now: datetime) -> list[Entry]:
        """Expire every lot whose time has come and that still holds points."""
        expired = []
        for index, lot in enumerate(self.lots):
            if lot.expires_at <= now and lot.remaining > 0:
                self.lots[index] = replace(lot, remaining=0)
                expired.append(
                    self._append(
                        Entry(
                            "expired",
                            -lot.remaining,
                            lot.expires_at,
                            f"expiry:{lot.lot_id}",
                            f"lot earned {lot.earned_at:%Y-%m-%d} expired",
                            (Draw(lot.lot_id, lot.remaining),),
                        )
                    )
                )
        return expired

    def expiring(self, today: date, within_days: int) -> int:
        """Points that expire after today and within `within_days` days."""
        return sum(
            lot.remaining
            for lot in self.lots
            if lot.remaining > 0 and 0 < (lot.expires_at.date() - today).days <= within_days
        )

    def reminders(self, today: date, days_before: Sequence[int]) -> list[tuple[date, int, int]]:
        """(expiry date, points, days left) for lots expiring exactly `days_before` days from today."""
        due: dict[tuple[date, int], int] = {}
        for lot in self.lots:
            days_left = (lot.expires_at.date() - today).days
            if lot.remaining > 0 and days_left in days_before:
                key = (lot.expires_at.date(), days_left)
                due[key] = due.get(key, 0) + lot.remaining
        return [(expires_on, points, days_left) for (expires_on, days_left), points in sorted(due.items())]

    def _draw(self, points: int, at: datetime, only: str | None = None) -> tuple[Draw, ...]:
        draws = []
        order = sorted(range(len(self.lots)), key=lambda i: (self.lots[i].expires_at, self.lots[i].earned_at))
        for index in order:
            lot = self.lots[index]
            if points == 0:
                break
            if lot.remaining == 0 or lot.expires_at <= at or (only is not None and lot.lot_id != only):
                continue
            take = min(points, lot.remaining)
            self.lots[index] = replace(lot, remaining=lot.remaining - take)
            draws.append(Draw(lot.lot_id, take))
            points -= take
        return tuple(draws)

    def _append(self, entry: Entry) -> Entry:
        self.entries.append(entry)
        return entry
