"""Who may call the alerting API: the operator key (X-API-Key), or a console session got by signing in with
that key — an HttpOnly, SameSite=Strict cookie whose writes also need a CSRF token.

A session is a row of `alerting.console_sessions`; the cookie carries its random id signed with
itsdangerous, so a forged or malformed cookie is refused before the database is asked. Signing out revokes
the row, so a copied cookie stops working on every replica and after restarts. The CSRF token is an HMAC
of the session id, so only a page that can read `GET /console/session` (same origin) learns it.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlsplit

from fastapi import HTTPException, Request, Security, status
from itsdangerous import BadData, Signer
from sqlalchemy import delete, insert, select, update

from services.alerting.models import console_sessions
from shared.db.engine import Database
from shared.security import API_KEY_HEADER, authenticate, hash_key
from shared.service import Runtime
from shared.settings import ServiceSettings

COOKIE = "console_session"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass(frozen=True)
class Session:
    name: str
    expires_at: float
    csrf: str


def _at(timestamp: float) -> datetime:
    return datetime.fromtimestamp(timestamp, UTC)


def _row_id(session_id: str) -> str:
    """What the table keeps of a session id: its digest, so a copy of the table opens no session."""
    return hashlib.sha256(session_id.encode()).hexdigest()


class ConsoleSessions:
    """Issues, verifies and revokes console sessions; a changed secret (or operator key) ends them all."""

    def __init__(self, secret: bytes, ttl_s: float, clock: Callable[[], float] = time.time) -> None:
        self._signer = Signer(secret, salt="alerting-console-session", digest_method=hashlib.sha256)
        self._secret, self._ttl_s, self._clock = secret, ttl_s, clock

    def cookie_for(self, session_id: str) -> str:
        return self._signer.sign(session_id).decode()

    def session_id(self, cookie: str | None) -> str | None:
        """The id a cookie carries when this secret signed it; None when absent, forged or malformed."""
        if not cookie:
            return None
        try:
            return self._signer.unsign(cookie).decode("ascii")
        except (BadData, UnicodeError):
            return None

    def csrf(self, session_id: str) -> str:
        return hmac.new(self._secret, b"csrf|" + session_id.encode(), hashlib.sha256).hexdigest()

    async def issue(self, database: Database, name: str) -> tuple[str, Session]:
        """A new session (stored before it is answered) and its cookie value; expired ones are swept."""
        session_id, now = secrets.token_urlsafe(32), self._clock()
        expires_at, table = _at(now + self._ttl_s), console_sessions
        async with database.connection() as conn:
            await conn.execute(delete(table).where(table.c.expires_at < _at(now)))
            await conn.execute(
                insert(table).values(id_hash=_row_id(session_id), name=name, expires_at=expires_at)
            )
        return self.cookie_for(session_id), Session(name, expires_at.timestamp(), self.csrf(session_id))

    async def verify(self, database: Database, cookie: str | None) -> Session | None:
        """The session a cookie stands for, or None when it is absent, forged, malformed, expired or
        signed out."""
        session_id = self.session_id(cookie)
        if session_id is None:
            return None
        table = console_sessions
        async with database.connection() as conn:
            row = (
                await conn.execute(
                    select(table.c.name, table.c.expires_at).where(
                        table.c.id_hash == _row_id(session_id),
                        table.c.revoked_at.is_(None),
                        table.c.expires_at > _at(self._clock()),
                    )
                )
            ).first()
        return None if row is None else Session(row.name, row.expires_at.timestamp(), self.csrf(session_id))

    async def revoke(self, database: Database, cookie: str | None) -> bool:
        """Ends the cookie's session for every replica, for good; False when there was none to end."""
        session_id = self.session_id(cookie)
        if session_id is None:
            return False
        table = console_sessions
        async with database.connection() as conn:
            ended = await conn.execute(
                update(table)
                .where(table.c.id_hash == _row_id(session_id), table.c.revoked_at.is_(None))
                .values(revoked_at=_at(self._clock()))
            )
        return bool(ended.rowcount)


def database_of(request: Request) -> Database:
    runtime: Runtime = request.app.state.runtime
    return runtime.database


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
        return await caller(request, presented, hashes, sessions)

    return dependency


async def operator_or_session(request: Request, presented: str | None = Security(API_KEY_HEADER)) -> str:
    """As `require_operator_or_session`, with the keys and sessions the app holds (`app.state.key_hashes`,
    `app.state.console_sessions`): for module-level routers."""
    return await caller(request, presented, request.app.state.key_hashes, request.app.state.console_sessions)


async def caller(
    request: Request, presented: str | None, hashes: Mapping[str, str], sessions: ConsoleSessions
) -> str:
    if presented is not None:
        return authenticate(request, hashes, presented)
    session = await sessions.verify(database_of(request), request.cookies.get(COOKIE))
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


def actor_of(request: Request, claimed: str) -> str:
    """The signed-in name for console requests (not what the body claims); the body's actor for the key."""
    actor = getattr(request.state, "console_actor", None)
    return actor if isinstance(actor, str) else claimed
