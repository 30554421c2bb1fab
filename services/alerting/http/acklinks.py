"""Acknowledging from the page: every page that asks for action carries a signed, expiring, single-use
link bound to its recipient. Opening it shows the alert and one button; pressing the button acknowledges
the alert under the recipient's name. The signature is the authority, so no key is needed; a GET never
changes anything, because mail and chat clients open links to preview them.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import html
import json
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any
from urllib.parse import parse_qs

from fastapi import APIRouter, Path, Request
from fastapi.responses import HTMLResponse, JSONResponse
from itsdangerous import BadData, URLSafeSerializer
from sqlalchemy import Row, select
from sqlalchemy.dialects.postgresql import insert

from services.alerting.config import AlertingSettings
from services.alerting.http import queries
from services.alerting.http.deps import alerting_settings, alerting_state
from services.alerting.metrics import TIME_TO_ACK
from services.alerting.models import ack_links
from shared.contracts.registry import ALERTS
from shared.service import RuntimeDep

ACK_TRANSITIONS = frozenset({"fired", "escalated", "reminded", "reopened", "sla_missed", "unsilenced"})
"""Pages that ask someone to act carry an ack link; an ack or resolution notice does not."""


@dataclass(frozen=True)
class AckLink:
    delivery_id: str
    alert_id: uuid.UUID
    recipient: str
    expires_at: datetime


def ack_secret(settings: AlertingSettings) -> bytes:
    """The console secret or, without one, a key derived from the operator key (replicas agree on it);
    never the bare key, so a link's signature says nothing about it."""
    base = settings.console_secret or settings.operator_api_key
    return _derived(base.get_secret_value())


@functools.lru_cache(maxsize=4)
def _derived(base: str) -> bytes:
    # Every page with an ack link derives it: once per secret, not once per page.
    return hmac.new(base.encode(), b"alerting-ack-link", hashlib.sha256).digest()


@functools.lru_cache(maxsize=4)
def _serializer(secret: bytes) -> URLSafeSerializer:
    return URLSafeSerializer(secret, salt="ack-link")


def make_token(secret: bytes, link: AckLink) -> str:
    return str(
        _serializer(secret).dumps(
            {
                "d": link.delivery_id,
                "a": str(link.alert_id),
                "r": link.recipient,
                "e": int(link.expires_at.timestamp()),
            }
        )
    )


def read_token(secret: bytes, token: str) -> AckLink | None:
    """The link a token was signed for, or None for a forged or malformed one (expiry is the caller's)."""
    try:
        data = _serializer(secret).loads(token)
        return AckLink(
            str(data["d"]),
            uuid.UUID(data["a"]),
            str(data["r"]),
            datetime.fromtimestamp(int(data["e"]), tz=UTC),
        )
    except (BadData, KeyError, TypeError, ValueError):
        return None


def ack_url(
    settings: AlertingSettings,
    transition: str,
    alert_id: str,
    recipient: str,
    delivery_id: str | None,
    now: datetime,
) -> str:
    """The page's ack link, or "" for a page that asks for nothing (or has no delivery to bind it to)."""
    if transition not in ACK_TRANSITIONS or delivery_id is None:
        return ""
    expires = now + timedelta(seconds=settings.ack_link_ttl_s)
    link = AckLink(delivery_id, uuid.UUID(alert_id), recipient, expires)
    return f"{settings.public_url.rstrip('/')}/ack/{make_token(ack_secret(settings), link)}"


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


router = APIRouter(include_in_schema=False)


Token = Annotated[str, Path(min_length=10, max_length=2000)]


def _page(title: str, body: str, status: int = 200) -> HTMLResponse:
    document = (
        "<!doctype html><meta charset=utf-8><meta name=viewport content='width=device-width'>"
        f"<title>{html.escape(title)}</title>"
        "<style>body{font:16px -apple-system,'PingFang SC',sans-serif;max-width:34em;margin:2em auto;"
        "padding:0 1em}button{font-size:1.1em;padding:.6em 1.4em}</style>"
        f"<h1>{html.escape(title)}</h1>{body}"
    )
    # The page and its form only: no framing, no scripts, no referrer carrying the token elsewhere.
    headers = {
        "Content-Security-Policy": (
            "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'"
        ),
        "Referrer-Policy": "no-referrer",
        "Cache-Control": "no-store",
    }
    return HTMLResponse(document, status_code=status, headers=headers)


async def _check(
    request: Request, runtime: RuntimeDep, token: str
) -> tuple[AckLink, Row[Any]] | HTMLResponse:
    """The link and its alert, or the page that says why the link cannot be used."""
    link = read_token(ack_secret(alerting_settings(request)), token)
    if link is None:
        return _page("链接无效 Invalid link", "<p>This acknowledgement link is not valid.</p>", 404)
    if alerting_state(request).clock() > link.expires_at:
        return _page(
            "链接已过期 Link expired", "<p>Open the alert in the console to acknowledge it.</p>", 410
        )
    async with runtime.database.connection() as conn:
        query = select(ack_links.c.used_at).where(ack_links.c.token_digest == token_digest(token))
        used = await conn.scalar(query)
        try:
            row = await queries.alert_row(conn, link.alert_id)
        except queries.NotFound:
            return _page("告警不存在 No such alert", "<p>The alert no longer exists.</p>", 404)
    if used is not None:
        return _page("链接已使用 Link already used", f"<p>Used at {html.escape(used.isoformat())}.</p>", 410)
    return link, row


@router.get("/ack/{token}")
async def ack_page(request: Request, token: Token, runtime: RuntimeDep) -> HTMLResponse:
    checked = await _check(request, runtime, token)
    if isinstance(checked, HTMLResponse):
        return checked
    link, row = checked
    summary = (
        f"<p><b>{html.escape(row.level)}</b> · {html.escape(row.status)}</p><p>{html.escape(row.summary)}</p>"
    )
    if row.status != "open":
        return _page("无需确认 Nothing to acknowledge", summary + "<p>This alert is no longer open.</p>")
    form = (
        f"<form method=post><p>确认人 As: <b>{html.escape(link.recipient)}</b></p>"
        "<button type=submit>确认 Acknowledge</button></form>"
    )
    return _page("确认告警 Acknowledge alert", summary + form)


@router.post("/ack/{token}")
async def ack_from_link(request: Request, token: Token, runtime: RuntimeDep) -> HTMLResponse:
    checked = await _check(request, runtime, token)
    if isinstance(checked, HTMLResponse):
        return checked
    link, _ = checked
    state = alerting_state(request)
    now = state.clock()
    topic = ALERTS.name + runtime.settings.kafka.topic_suffix
    note = f"acknowledged from the link of delivery {link.delivery_id}"
    async with runtime.database.connection() as conn:
        claimed = await conn.execute(
            insert(ack_links)
            .values(
                token_digest=token_digest(token),
                alert_id=link.alert_id,
                recipient=link.recipient,
                used_at=now,
            )
            .on_conflict_do_nothing()
        )
        if claimed.rowcount == 0:  # another click got there first
            return _page("链接已使用 Link already used", "<p>This link was just used.</p>", 410)
        try:
            before, after = await queries.act(
                conn, link.alert_id, "acknowledged", link.recipient, note, now, topic, state.config()
            )
        except queries.AlreadyResolved:
            return _page("告警已解决 Already resolved", "<p>Nothing to acknowledge.</p>", 409)
    if before is not after:
        TIME_TO_ACK.observe((now - before.created_at).total_seconds())
    return _page(
        "已确认 Acknowledged",
        f"<p>{html.escape(after.summary)}</p><p>Acknowledged by <b>{html.escape(link.recipient)}</b>; "
        "escalation has stopped.</p>",
    )


SLACK_MAX_AGE_S = 300
"""Slack's advice: refuse a request whose timestamp is more than five minutes off (a replay)."""


def slack_signature(secret: str, timestamp: str, body: bytes) -> str:
    """Slack's request signature: v0= HMAC-SHA256(signing secret, "v0:{timestamp}:{body}")."""
    digest = hmac.new(secret.encode(), b"v0:" + timestamp.encode() + b":" + body, hashlib.sha256)
    return "v0=" + digest.hexdigest()


def _slack_answer(text: str, status: int = 200) -> JSONResponse:
    return JSONResponse({"response_type": "ephemeral", "replace_original": False, "text": text}, status)


@router.post("/slack/actions")
async def slack_action(request: Request, runtime: RuntimeDep) -> JSONResponse:
    """A click on a Slack page's Acknowledge button, verified by the app's signing secret; the alert is
    acknowledged under the Slack user's name."""
    settings = alerting_settings(request)
    if settings.slack_signing_secret is None:
        return _slack_answer("Slack interactivity is not configured", 404)
    body = await request.body()
    timestamp = request.headers.get("x-slack-request-timestamp", "")
    signature = request.headers.get("x-slack-signature", "")
    expected = slack_signature(settings.slack_signing_secret.get_secret_value(), timestamp, body)
    fresh = timestamp.isdigit() and abs(time.time() - int(timestamp)) <= SLACK_MAX_AGE_S
    if not fresh or not hmac.compare_digest(signature, expected):
        return _slack_answer("signature refused", 401)
    try:
        payload = json.loads(parse_qs(body.decode()).get("payload", ["{}"])[0])
        action = next(a for a in payload.get("actions", []) if a.get("action_id") == "ack")
        user = str(payload["user"].get("username") or payload["user"]["id"])
    except (ValueError, KeyError, StopIteration, AttributeError, TypeError):
        return _slack_answer("not an acknowledge action", 400)
    link = read_token(ack_secret(settings), str(action.get("value", "")))
    state = alerting_state(request)
    if link is None or state.clock() > link.expires_at:
        return _slack_answer("This page's acknowledge button has expired; use the console.")
    topic = ALERTS.name + runtime.settings.kafka.topic_suffix
    note = f"acknowledged in Slack from the page of delivery {link.delivery_id}"
    async with runtime.database.connection() as conn:
        try:
            before, after = await queries.act(
                conn,
                link.alert_id,
                "acknowledged",
                f"slack:{user}",
                note,
                state.clock(),
                topic,
                state.config(),
            )
        except queries.NotFound:
            return _slack_answer("The alert no longer exists.")
        except queries.AlreadyResolved:
            return _slack_answer("The alert is already resolved.")
    if before is not after:
        TIME_TO_ACK.observe((state.clock() - before.created_at).total_seconds())
    return _slack_answer(f"Acknowledged by {user}: {after.summary}")
