"""The on-call console: static pages under /console, sign-in for a session cookie, and member lookup.

Member lookup asks the loyalty service from here (a same-origin proxy) rather than from the browser:
the session cookie then guards it like every other console call, loyalty needs no CORS opening, and
its address never has to be reachable from on-call staff's phones.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import quote

import httpx
from fastapi import APIRouter, Depends, HTTPException, Request, Response
from fastapi.responses import FileResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from services.alerting.http.deps import SettingsDep
from services.alerting.http.session import (
    COOKIE,
    ConsoleSessions,
    database_of,
    operator_or_session,
    same_origin,
)
from services.alerting.models import alerts
from shared.params import Instant
from shared.security import identify
from shared.service import RuntimeDep

STATIC = Path(__file__).parent / "console"
FILES = {
    "app.js": "text/javascript",
    "insights.js": "text/javascript",
    "i18n.js": "text/javascript",
    "console.css": "text/css",
    "icon.svg": "image/svg+xml",
}
HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}
LoyaltyStatus = Literal["ok", "not_found", "unavailable"]


class SignIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    key: str = Field(min_length=1, max_length=500, description="the operator key")
    name: str = Field(min_length=1, max_length=200, description="who signs in (recorded on every action)")


class SessionOut(BaseModel):
    name: str = Field(description="who is signed in")
    expires_at: float = Field(description="when the session ends (Unix time)")
    csrf: str = Field(description="send as X-CSRF-Token with every write")


class OpenAlertOut(BaseModel):
    id: str
    rule_id: str
    level: str
    status: str
    summary: str
    created_at: Instant


class ConsoleMemberOut(BaseModel):
    customer_id: str
    loyalty: LoyaltyStatus
    member: dict[str, Any] | None = Field(description="loyalty's member summary, when it answered")
    ledger: list[dict[str, Any]] = Field(description="the last 10 ledger entries, newest first")
    open_alerts: list[OpenAlertOut]


def _sessions(request: Request) -> ConsoleSessions:
    sessions: ConsoleSessions = request.app.state.console_sessions
    return sessions


SessionsDep = Annotated[ConsoleSessions, Depends(_sessions)]
router = APIRouter(prefix="/console", tags=["console"])


@router.get("", include_in_schema=False)
async def page() -> FileResponse:
    """The single page; it holds no data, so anonymous visitors get it (and only the sign-in form)."""
    return FileResponse(STATIC / "index.html", media_type="text/html", headers=HEADERS)


@router.get("/assets/{name}", include_in_schema=False)
async def asset(name: str) -> FileResponse:
    if name not in FILES:
        raise HTTPException(404, "no such file")
    return FileResponse(STATIC / name, media_type=FILES[name], headers=HEADERS)


@router.post("/session")
async def sign_in(
    request: Request, body: SignIn, response: Response, settings: SettingsDep, sessions: SessionsDep
) -> SessionOut:
    """Exchanges the operator key for a signed, HttpOnly, SameSite=Strict session cookie (wrong keys
    count towards the caller's lock-out like X-API-Key's)."""
    if not same_origin(request):
        raise HTTPException(403, "cross-origin sign-in refused")
    if identify(request, request.app.state.key_hashes, body.key) is None:
        raise HTTPException(401, "wrong operator key")
    if not body.name.strip():
        raise HTTPException(422, detail=[{"field": "name", "message": "must not be blank"}])
    cookie, session = await sessions.issue(database_of(request), body.name.strip())
    response.set_cookie(
        COOKIE,
        cookie,
        max_age=int(session.expires_at - time.time()),
        path="/",
        secure=settings.app_env == "production" or request.url.scheme == "https",
        httponly=True,
        samesite="strict",
    )
    return SessionOut(name=session.name, expires_at=session.expires_at, csrf=session.csrf)


@router.get("/session")
async def current(request: Request, sessions: SessionsDep) -> SessionOut:
    """The signed-in name and the CSRF token to send as X-CSRF-Token with every write."""
    session = await sessions.verify(database_of(request), request.cookies.get(COOKIE))
    if session is None:
        raise HTTPException(401, "not signed in")
    return SessionOut(name=session.name, expires_at=session.expires_at, csrf=session.csrf)


@router.delete("/session", status_code=204)
async def sign_out(request: Request, response: Response, sessions: SessionsDep) -> None:
    """Ends the session server-side (a copy of the cookie opens nothing after this) and drops it."""
    await sessions.revoke(database_of(request), request.cookies.get(COOKIE))
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict")


@router.get("/api/members/{customer_id}", dependencies=[Depends(operator_or_session)])
async def member(customer_id: str, runtime: RuntimeDep, settings: SettingsDep) -> ConsoleMemberOut:
    """Balance, tier and recent ledger from loyalty, with this customer's unresolved alerts."""
    query = (
        select(
            alerts.c.id,
            alerts.c.rule_id,
            alerts.c.level,
            alerts.c.status,
            alerts.c.summary,
            alerts.c.created_at,
        )
        .where(alerts.c.customer_id == customer_id, alerts.c.status != "resolved")
        .order_by(alerts.c.created_at.desc())
        .limit(50)
    )
    async with runtime.database.connection() as conn:
        rows = (await conn.execute(query)).all()
    key = settings.loyalty_api_key.get_secret_value()
    status, summary, ledger = await _loyalty(settings.loyalty_url, key, customer_id)
    return ConsoleMemberOut(
        customer_id=customer_id,
        loyalty=status,
        member=summary,
        ledger=ledger,
        open_alerts=[OpenAlertOut(**(dict(r._mapping) | {"id": str(r.id)})) for r in rows],
    )


async def _loyalty(
    base_url: str, key: str, customer_id: str
) -> tuple[LoyaltyStatus, dict[str, Any] | None, list[dict[str, Any]]]:
    """The member's summary and last 10 ledger entries, read with loyalty's read-only key; a loyalty
    outage (or a refused key) yields "unavailable", not 5xx."""
    path = f"/v1/members/{quote(customer_id, safe='')}"
    headers = {"X-API-Key": key}
    try:
        async with httpx.AsyncClient(base_url=base_url, timeout=5.0, headers=headers) as client:
            found = await client.get(path)
            if found.status_code == 404:
                return "not_found", None, []
            found.raise_for_status()
            ledger = await client.get(f"{path}/ledger", params={"limit": 10})
            ledger.raise_for_status()
    except (httpx.HTTPError, ValueError):
        return "unavailable", None, []
    entries: list[dict[str, Any]] = ledger.json().get("entries", [])
    summary: dict[str, Any] = found.json()
    return "ok", summary, entries
