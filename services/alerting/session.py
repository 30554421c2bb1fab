"""Who may call the alerting API: the operator key (X-API-Key), or a console session — a signed,
HttpOnly, SameSite=Strict cookie got by signing in with that key, whose writes also need a CSRF token.

A session is stateless: `base64(json) . HMAC-SHA256(secret, base64(json))`. The CSRF token is an HMAC
of the session's nonce, so only a page that can read `GET /console/session` (same origin) learns it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from fastapi import HTTPException, Request, Security, status

from shared.security import API_KEY_HEADER, authenticate, hash_key
from shared.settings import ServiceSettings

COOKIE = "console_session"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass(frozen=True)
class Session:
    name: str
    expires_at: float
    csrf: str


class ConsoleSessions:
    """Issues and verifies console session cookies; a changed secret (or operator key) ends them all."""

    def __init__(self, secret: bytes, ttl_s: float, clock: Callable[[], float] = time.time) -> None:
        self._secret, self._ttl_s, self._clock = secret, ttl_s, clock

    def _sign(self, data: bytes) -> str:
        return base64.urlsafe_b64encode(hmac.new(self._secret, data, hashlib.sha256).digest()).decode()

    def issue(self, name: str) -> tuple[str, Session]:
        """The cookie value and the session it stands for."""
        claims = {"n": name, "e": self._clock() + self._ttl_s, "r": secrets.token_urlsafe(16)}
        body = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode()
        return f"{body}.{self._sign(body.encode())}", self._session(claims)

    def verify(self, cookie: str | None) -> Session | None:
        """The session a cookie carries, or None when it is absent, forged, malformed or expired."""
        if not cookie or cookie.count(".") != 1:
            return None
        body, signature = cookie.split(".")
        if not hmac.compare_digest(signature, self._sign(body.encode())):
            return None
        try:
            claims = json.loads(base64.urlsafe_b64decode(body.encode()))
            session = self._session(claims)
        except (ValueError, KeyError, TypeError):
            return None
        return session if session.expires_at > self._clock() else None

    def _session(self, claims: dict[str, object]) -> Session:
        nonce, name, expires = claims["r"], claims["n"], claims["e"]
        if not isinstance(nonce, str) or not isinstance(name, str) or not isinstance(expires, int | float):
            raise TypeError("malformed claims")
        return Session(name, float(expires), self._sign(b"csrf|" + nonce.encode()))


def session_secret(settings: ServiceSettings, configured: str | None) -> bytes:
    """The configured console secret, or one derived from the operator key (replicas agree on it)."""
    if configured:
        return configured.encode()
    key = settings.operator_api_key.get_secret_value().encode()
    return hmac.new(key, b"alerting-console-session", hashlib.sha256).digest()


def same_origin(request: Request) -> bool:
    """False only when the browser says the request comes from another origin."""
    origin = request.headers.get("origin")
    return origin is None or urlsplit(origin).netloc == request.headers.get("host")


def require_operator_or_session(
    settings: ServiceSettings, sessions: ConsoleSessions
) -> Callable[..., Awaitable[str]]:
    """A dependency returning who calls: "operator" for the key, the signed-in name for a session.

    401 without either (429 while the caller's address is locked out for wrong keys); a session's unsafe
    request needs the CSRF header and a same-origin Origin (403).
    """
    hashes = {"operator": hash_key(settings.operator_api_key.get_secret_value())}

    async def dependency(request: Request, presented: str | None = Security(API_KEY_HEADER)) -> str:
        if presented is not None:
            return authenticate(request, hashes, presented)
        session = sessions.verify(request.cookies.get(COOKIE))
        if session is None:
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED,
                "sign in to the console or send X-API-Key",
                headers={"WWW-Authenticate": "ApiKey"},
            )
        if request.method not in SAFE_METHODS and not (
            same_origin(request)
            and hmac.compare_digest(request.headers.get(CSRF_HEADER, "").encode(), session.csrf.encode())
        ):
            raise HTTPException(status.HTTP_403_FORBIDDEN, f"missing or wrong {CSRF_HEADER}")
        request.state.console_actor = session.name
        return session.name

    return dependency


def actor_of(request: Request, claimed: str) -> str:
    """The signed-in name for console requests (not what the body claims); the body's actor for the key."""
    actor = getattr(request.state, "console_actor", None)
    return actor if isinstance(actor, str) else claimed
