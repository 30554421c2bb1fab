"""Console sessions live in PostgreSQL: signing out ends one for every replica and across restarts, so a
copied cookie opens nothing afterwards; sessions also end when they expire."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from services.alerting.http.session import COOKIE, ConsoleSessions
from shared.settings import DEV_OPERATOR_KEY
from tests.integration.alerting_helpers import Clock, alerting_app, rules_file

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("topics")]
SIGN_IN = {"key": DEV_OPERATOR_KEY, "name": "agent-zhao"}


def browser(app: Any, cookie: str | None = None) -> httpx.AsyncClient:
    """A client without the operator key (unlike alerting_app's), holding `cookie` if given."""
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://alerting")
    if cookie is not None:
        client.cookies.set(COOKIE, cookie)
    return client


async def opens(app: Any, cookie: str) -> bool:
    async with browser(app, cookie) as client:
        alerts, session = await client.get("/v1/alerts"), await client.get("/console/session")
    assert alerts.status_code == session.status_code, (alerts.text, session.text)
    assert alerts.status_code in (200, 401), alerts.text
    return alerts.status_code == 200


async def test_a_copied_cookie_opens_nothing_after_sign_out_on_any_replica_or_after_restart(
    kafka_settings, tmp_path
):
    rules, _ = rules_file(tmp_path, "http://127.0.0.1:9")
    async with (
        alerting_app(kafka_settings, rules, Clock()) as (one, _),
        browser(one) as signed_in,
        browser(one) as elsewhere,
    ):
        assert (await signed_in.post("/console/session", json=SIGN_IN)).status_code == 200
        copied = signed_in.cookies[COOKIE]
        kept = (await elsewhere.post("/console/session", json=SIGN_IN)).cookies[COOKIE]  # another device
        async with alerting_app(kafka_settings, rules, Clock()) as (replica, _):
            assert await opens(replica, copied), "replicas share sessions"
            assert (await signed_in.delete("/console/session")).status_code == 204
            assert not await opens(replica, copied)
        assert not await opens(one, copied)
        assert await opens(one, kept), "signing out ends that session only"
    async with alerting_app(kafka_settings, rules, Clock()) as (restarted, _):
        assert not await opens(restarted, copied)
        assert await opens(restarted, kept)


async def test_malformed_cookies_are_401_on_every_console_route(kafka_settings, tmp_path):
    rules, _ = rules_file(tmp_path, "http://127.0.0.1:9")
    malformed = ["e30.forged", "a.b.c", "x.!!", "签名.会话", "ünïcödé.sïg", "x" * 4000]
    async with alerting_app(kafka_settings, rules, Clock()) as (app, _), browser(app) as client:
        for cookie in malformed:
            headers = {"Cookie": b"console_session=" + cookie.encode()}  # raw octets, as any client may
            for method, path in [
                ("GET", "/v1/alerts"),
                ("GET", "/console/session"),
                ("DELETE", "/console/session"),
            ]:
                response = await client.request(method, path, headers=headers)  # type: ignore[arg-type]
                expected = 204 if method == "DELETE" else 401  # signing out with junk ends nothing
                assert response.status_code == expected, (cookie[:20], method, path, response.text)


class Seconds:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


async def test_a_session_ends_when_it_expires_or_is_revoked_and_only_once(database):
    clock = Seconds()
    sessions = ConsoleSessions(b"secret", ttl_s=60, clock=clock)
    cookie, issued = await sessions.issue(database, "值班-王")
    assert await sessions.verify(database, cookie) == issued
    assert await ConsoleSessions(b"another secret", ttl_s=60).verify(database, cookie) is None
    clock.now += 61
    assert await sessions.verify(database, cookie) is None

    cookie, _ = await sessions.issue(database, "值班-王")
    assert await sessions.revoke(database, cookie) is True
    assert await sessions.verify(database, cookie) is None
    assert await sessions.revoke(database, cookie) is False
    assert await sessions.revoke(database, "not.a-cookie") is False


async def test_each_session_has_its_own_csrf_token(database):
    sessions = ConsoleSessions(b"secret", ttl_s=60)
    (first, one), (_, two) = await sessions.issue(database, "a"), await sessions.issue(database, "a")
    assert one.csrf != two.csrf
    verified = await sessions.verify(database, first)
    assert verified is not None
    assert verified.csrf == one.csrf
