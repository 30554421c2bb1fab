"""Console session cookies: signed, expiring, bound to their secret, each with its own CSRF token."""

from __future__ import annotations

from services.alerting.session import ConsoleSessions


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def test_a_session_cookie_names_who_signed_in_until_it_expires():
    clock = Clock()
    sessions = ConsoleSessions(b"secret", ttl_s=60, clock=clock)
    cookie, issued = sessions.issue("值班-王")
    assert sessions.verify(cookie) == issued
    assert issued.name == "值班-王"
    clock.now += 61
    assert sessions.verify(cookie) is None


def test_a_tampered_or_foreign_cookie_is_refused():
    sessions = ConsoleSessions(b"secret", ttl_s=60)
    cookie, _ = sessions.issue("agent-wang")
    body, signature = cookie.split(".")
    forged_body = body[:-2] + ("A" if body[-2] != "A" else "B") + body[-1]
    assert sessions.verify(f"{forged_body}.{signature}") is None
    assert ConsoleSessions(b"another secret", ttl_s=60).verify(cookie) is None
    for junk in (None, "", "no-dot", "a.b.c", ".", "e30.AAAA"):
        assert sessions.verify(junk) is None


def test_each_session_has_its_own_csrf_token():
    sessions = ConsoleSessions(b"secret", ttl_s=60)
    (first, one), (_, two) = sessions.issue("a"), sessions.issue("a")
    assert one.csrf != two.csrf
    verified = sessions.verify(first)
    assert verified is not None
    assert verified.csrf == one.csrf
