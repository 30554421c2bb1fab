"""Console session cookies: signed by their secret, each session with its own CSRF token, and a malformed
cookie is an anonymous caller (401), never a server error."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from fastapi import Depends, FastAPI

from services.alerting.http.session import ConsoleSessions, require_operator_or_session
from shared.settings import ServiceSettings

MALFORMED = [
    "",
    "no-separator",
    "a.b.c",
    ".",
    "e30.AAAA",  # the old format: base64 JSON and a signature
    "session-id.!!not-base64!!",
    "session-id.",
    "ünïcödé.sïgnätürë",
    "会话.签名",
]


def test_a_cookie_carries_its_session_id_only_under_its_own_secret():
    sessions = ConsoleSessions(b"secret", ttl_s=60)
    cookie = sessions.cookie_for("abc123")
    assert sessions.session_id(cookie) == "abc123"
    assert ConsoleSessions(b"another secret", ttl_s=60).session_id(cookie) is None
    forged = "abd123" + cookie.removeprefix("abc123")
    assert sessions.session_id(forged) is None


@pytest.mark.parametrize("cookie", [None, *MALFORMED])
def test_a_malformed_cookie_carries_no_session(cookie):
    assert ConsoleSessions(b"secret", ttl_s=60).session_id(cookie) is None


def test_each_session_has_its_own_csrf_token_that_only_the_secret_makes():
    sessions = ConsoleSessions(b"secret", ttl_s=60)
    assert sessions.csrf("one") != sessions.csrf("two")
    assert sessions.csrf("one") == ConsoleSessions(b"secret", ttl_s=60).csrf("one")
    assert sessions.csrf("one") != ConsoleSessions(b"another secret", ttl_s=60).csrf("one")


class NoDatabase:
    """Fails the test if asked: a cookie that is not ours must be refused before any query."""

    def connection(self) -> Any:
        raise AssertionError("a malformed cookie reached the database")


@pytest.mark.parametrize("cookie", MALFORMED[1:])
async def test_a_malformed_cookie_is_a_401_not_a_500(cookie: str):
    settings = ServiceSettings()
    auth = require_operator_or_session(settings, ConsoleSessions(b"secret", ttl_s=60))
    app = FastAPI()
    app.state.runtime = SimpleNamespace(database=NoDatabase())

    @app.get("/data", dependencies=[Depends(auth)])
    async def data() -> dict[str, str]:
        return {}

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://alerting") as client:
        # Sent as raw bytes: a browser or script may send any octets, which servers read as latin-1.
        headers = {"Cookie": b"console_session=" + cookie.encode()}
        response = await client.get("/data", headers=headers)  # type: ignore[arg-type]
    assert response.status_code == 401, response.text
