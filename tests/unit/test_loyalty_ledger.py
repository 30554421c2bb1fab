"""The points ledger's invariants over random operation sequences (hypothesis), and its rules by example."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.loyalty.ledger import Account, InsufficientPoints, add_months

T0 = datetime(2026, 1, 31, 12, 0, tzinfo=UTC)

operation = st.one_of(
    st.tuples(st.just("earn"), st.integers(1, 5000)),
    st.tuples(st.just("redeem"), st.integers(1, 5000)),
    st.tuples(st.just("claw_back"), st.integers(1, 5000)),
    st.tuples(st.just("expire"), st.just(0)),
    st.tuples(st.just("reverse"), st.just(0)),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(operation, st.integers(0, 60)), max_size=60))
def test_balance_is_the_ledger_sum_and_never_negative(steps):
    account, now, earned = Account(), T0, 0
    redemptions = []
    for (name, points), days in steps:
        now += timedelta(days=days)
        before = account.balance(now)
        if name == "earn":
            account.earn(points, now, f"e{len(account.entries)}", "test", expiry_months=12)
            earned += points
        elif name == "redeem":
            try:
                redemptions.append(account.redeem(points, now, f"r{len(account.entries)}", "test"))
            except InsufficientPoints:
                assert points > before
                assert account.balance(now) == before, "a refused redemption changes nothing"
        elif name == "claw_back":
            entry = account.claw_back(points, now, f"c{len(account.entries)}", "refund")
            assert -entry.points == min(points, before)
        elif name == "expire":
            account.expire(now)
        elif redemptions:
            account.reverse_redemption(redemptions.pop(), now, f"v{len(account.entries)}")
        account.expire(now)
        assert account.balance(now) >= 0
        assert account.balance(now) == sum(e.points for e in account.entries)
        assert account.balance(now) == sum(lot.remaining for lot in account.lots)
        assert all(0 <= lot.remaining <= lot.points for lot in account.lots)
    assert sum(lot.points for lot in account.lots) == earned


def test_spending_draws_from_the_lot_that_expires_first():
    account = Account()
    account.earn(100, T0, "old", "x", expiry_months=12)
    account.earn(100, T0 + timedelta(days=40), "new", "x", expiry_months=12)
    entry = account.redeem(150, T0 + timedelta(days=50), "r", "x")
    assert [(d.lot_id, d.points) for d in entry.draws] == [("old", 100), ("new", 50)]


def test_overdraw_is_refused_and_changes_nothing():
    account = Account()
    account.earn(100, T0, "a", "x", expiry_months=12)
    with pytest.raises(InsufficientPoints):
        account.redeem(101, T0, "r", "x")
    assert account.balance(T0) == 100
    assert len(account.entries) == 1


def test_lots_expire_after_their_months_and_reminders_come_30_15_3_days_ahead():
    account = Account()
    account.earn(300, T0, "a", "x", expiry_months=12)
    expires = add_months(T0, 12)
    assert expires == datetime(2027, 1, 31, 12, 0, tzinfo=UTC)
    days = (30, 15, 3)
    for left in days:
        today = (expires - timedelta(days=left)).date()
        assert account.reminders(today, days) == [(expires.date(), 300, left)]
    assert account.reminders((expires - timedelta(days=20)).date(), days) == []
    assert account.expiring(expires.date() - timedelta(days=30), 30) == 300
    [entry] = account.expire(expires)
    assert (entry.kind, entry.points) == ("expired", -300)
    assert account.balance(expires) == 0
    assert account.expire(expires + timedelta(days=1)) == [], "a lot expires once"


def test_month_end_earning_expires_at_the_end_of_a_shorter_month():
    assert add_months(datetime(2026, 1, 31, tzinfo=UTC), 1) == datetime(2026, 2, 28, tzinfo=UTC)
    assert add_months(datetime(2027, 12, 15, tzinfo=UTC), 2) == datetime(2028, 2, 15, tzinfo=UTC)


def test_claw_back_takes_from_the_refunded_orders_lot_first_and_stops_at_zero():
    account = Account()
    account.earn(100, T0, "older", "x", expiry_months=12)
    account.earn(50, T0 + timedelta(days=1), "order-7", "x", expiry_months=12)
    entry = account.claw_back(80, T0 + timedelta(days=2), "refund-7", "refund", from_lot="order-7")
    assert [(d.lot_id, d.points) for d in entry.draws] == [("order-7", 50), ("older", 30)]
    everything = account.claw_back(500, T0 + timedelta(days=3), "refund-8", "refund")
    assert everything.points == -70
    assert account.balance(T0 + timedelta(days=3)) == 0


def test_reversing_a_redemption_restores_the_same_lots():
    account = Account()
    account.earn(100, T0, "a", "x", expiry_months=12)
    redemption = account.redeem(60, T0, "r", "x")
    reversal = account.reverse_redemption(redemption, T0 + timedelta(days=1), "undo-r")
    assert reversal.points == 60
    assert account.balance(T0 + timedelta(days=1)) == 100
