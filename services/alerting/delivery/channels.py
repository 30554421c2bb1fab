"""Notification channels: signed webhook, Slack (Block Kit), e-mail over SMTP (text + HTML), WeCom,
DingTalk and Feishu/Lark group robots, SMS through an HTTP provider, and Alertmanager v2.

Each delivery is independent; a failure raises DeliveryError with a message for the delivery log. What a
page says comes from pages.py's templates; each format around it from formats.py.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import aiosmtplib
import jinja2

from services.alerting.config import AlertingSettings
from services.alerting.delivery import formats
from services.alerting.delivery.pages import Pages, pages_for
from services.alerting.delivery.ssrf import Allowed, DestinationRefused, check_url, is_guarded
from services.alerting.delivery.ssrf import guard as guard  # re-exported: checks a URL as a send would
from services.alerting.http.acklinks import ACK_TRANSITIONS, ack_url
from services.alerting.rules import AlertingConfig

SIGNATURE_HEADER = "X-Feedback-Signature"
TIMESTAMP_HEADER = "X-Feedback-Timestamp"
DELIVERY_HEADER = "X-Feedback-Delivery"
"""The delivery's id, the same on every attempt: a send whose outcome a crash lost is sent again after its
lease, under the same id, so a receiver that keeps the ids it has seen drops the repeat."""


ALERTMANAGER_GRACE = timedelta(minutes=15)
"""How long past its next due transition an alert stays active in Alertmanager unless sent again."""


class DeliveryError(Exception):
    pass


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """`sha256=` + HMAC-SHA256 over `timestamp.body` (the timestamp defeats replays)."""
    return "sha256=" + hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def _resolve_env(value: str | None) -> str | None:
    if value and value.startswith("env:"):
        return os.environ.get(value[4:])
    return value


def contact_value(channel: str, target: str, config: AlertingConfig) -> str | None:
    contact = config.contacts.get(target)
    return _resolve_env(getattr(contact, channel, None)) if contact is not None else None


def address(channel: str, target: str, config: AlertingConfig, settings: AlertingSettings) -> str:
    """Where `channel` sends a page for `target`: its contact's value (a URL; an e-mail address; for SMS
    the provider's URL, the phone number being the contact's), else the service-wide default."""
    found = contact_value(channel, target, config)
    if channel == "sms":
        if not found:
            raise DeliveryError(f"no sms number for {target!r} (contacts in the rules file)")
        if not settings.sms_url:
            raise DeliveryError("no SMS provider (ALERTING_SMS_URL)")
        return settings.sms_url
    default = {
        "webhook": settings.webhook_url,
        "slack": settings.slack_url,
        "alertmanager": settings.alertmanager_url,
    }
    found = found or default.get(channel)
    if not found:
        raise DeliveryError(
            f"no {channel} address for {target!r} "
            f"(contacts in the rules file, or ALERTING_{channel.upper()}_URL)"
        )
    return found


def pages_of(settings: AlertingSettings) -> Pages:
    return pages_for(settings.templates_dir, settings.public_url, settings.page_time_zone)


async def _post(
    http: aiohttp.ClientSession,
    url: str,
    body: bytes,
    headers: Mapping[str, str],
    allow: Sequence[str],
    channel: str = "",
) -> None:
    """POSTs and raises unless the receiver accepted it: a 2xx, and for a robot a zero error code."""
    try:
        check_url(url, Allowed.of(tuple(allow)))  # a host name is checked by the session's resolver, once
        if not is_guarded(http):
            raise DestinationRefused("refused: the HTTP session has no SSRF guard (ssrf.guarded_connector)")
        async with http.post(
            url, data=body, headers={"Content-Type": "application/json", **headers}, allow_redirects=False
        ) as response:
            if response.status >= 300:
                raise DeliveryError(f"HTTP {response.status}: {(await response.text())[:200]}")
            answer = await response.read()
    except DestinationRefused as exc:
        raise DeliveryError(str(exc)) from exc
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise DeliveryError(f"{type(exc).__name__}: {exc}") from exc
    refusal = formats.robot_refusal(channel, answer)
    if refusal is not None:
        raise DeliveryError(refusal)


def _json(document: Mapping[str, Any]) -> bytes:
    return json.dumps(document, ensure_ascii=False).encode()


async def send(
    channel: str,
    target: str,
    payload: Mapping[str, Any],
    config: AlertingConfig,
    settings: AlertingSettings,
    http: aiohttp.ClientSession,
    delivery_id: str | None = None,
    now: datetime | None = None,
) -> None:
    """Sends one notification; raises DeliveryError with what went wrong. `http` is the notifier's
    session (aiohttp: several times less CPU per request than httpx at hundreds of webhooks a second).
    `delivery_id` goes with a webhook (signed, in the body, and as DELIVERY_HEADER) for deduplication,
    and binds the page's ack link, which expires counting from `now` (the notifier's clock)."""
    now = now or datetime.now(UTC)
    if channel == "webhook":
        document = {"target": target, **payload}
        if delivery_id is not None:
            document["delivery_id"] = delivery_id
        if link := _ack_url(settings, payload, target, delivery_id, now):
            document["ack_url"] = link
        body = json.dumps(document, ensure_ascii=False).encode()
        stamp = str(int(time.time()))
        headers = {
            TIMESTAMP_HEADER: stamp,
            SIGNATURE_HEADER: sign(settings.webhook_secret.get_secret_value(), stamp, body),
        }
        if delivery_id is not None:
            headers[DELIVERY_HEADER] = delivery_id
        await _post(http, address("webhook", target, config, settings), body, headers, settings.webhook_allow)
    elif channel in ("slack", "wecom", "dingtalk", "feishu", "sms"):
        await _robot(channel, target, payload, config, settings, http, delivery_id, now)
    elif channel == "alertmanager":
        await _post(
            http,
            address("alertmanager", target, config, settings).rstrip("/") + "/api/v2/alerts",
            json.dumps([alertmanager_alert(payload)]).encode(),
            {},
            settings.webhook_allow,
        )
    elif channel == "email":
        to = address("email", target, config, settings)
        await _email(to, payload, settings, delivery_id, target, now)
    else:
        raise DeliveryError(f"unknown channel {channel!r}")


def alertmanager_alert(payload: Mapping[str, Any]) -> dict[str, Any]:
    alert = payload["alert"]
    labels = {
        "alertname": alert["rule_id"],
        "level": alert["level"],
        "alert_id": alert["alert_id"],
        **{k: v for k, v in alert["group_key"].items() if v},
    }
    out: dict[str, Any] = {
        "labels": labels,
        "annotations": {"summary": alert["summary"], "transition": payload["transition"]},
        "startsAt": alert["at"],
    }
    # Without endsAt Alertmanager resolves an alert nobody re-sends within its resolve_timeout (5 min):
    # an escalation is sent once, so it holds until its next transition is due (which sends it again,
    # or at the next level), with some grace for the timer's lag.
    next_action_at = payload.get("next_action_at")
    if payload["transition"] == "resolved":
        out["endsAt"] = alert["at"]
    elif next_action_at:
        out["endsAt"] = (datetime.fromisoformat(next_action_at) + ALERTMANAGER_GRACE).isoformat()
    return out


async def _robot(
    channel: str,
    target: str,
    payload: Mapping[str, Any],
    config: AlertingConfig,
    settings: AlertingSettings,
    http: aiohttp.ClientSession,
    delivery_id: str | None,
    now: datetime,
) -> None:
    """The chat robots and the SMS provider: a rendered page in the receiver's format."""
    pages, url, headers = pages_of(settings), address(channel, target, config, settings), {}
    ack = _ack_url(settings, payload, target, delivery_id, now)
    try:
        if channel == "slack":
            body = _json(formats.slack_body(pages, payload, delivery_id, ack))
        elif channel == "wecom":
            body = _json(formats.wecom_body(pages, payload, delivery_id, ack))
        elif channel == "dingtalk":
            body = _json(formats.dingtalk_body(pages, payload, delivery_id, ack))
            secret = contact_value("dingtalk_secret", target, config)
            url = formats.dingtalk_url(url, secret, int(time.time() * 1000))
        elif channel == "feishu":
            secret = contact_value("feishu_secret", target, config)
            body = _json(formats.feishu_body(pages, payload, delivery_id, secret, int(time.time()), ack))
        else:
            phone = contact_value("sms", target, config) or ""
            body = formats.sms_body(pages, payload, delivery_id, phone, ack)
            if settings.sms_token is not None:
                headers["Authorization"] = f"Bearer {settings.sms_token.get_secret_value()}"
    except (jinja2.TemplateError, ValueError) as exc:
        raise DeliveryError(f"template: {exc}") from exc
    await _post(http, url, body, headers, settings.webhook_allow, channel)


def _ack_url(
    settings: AlertingSettings,
    payload: Mapping[str, Any],
    target: str,
    delivery_id: str | None,
    now: datetime,
) -> str:
    if delivery_id is None or payload["transition"] not in ACK_TRANSITIONS:
        return ""
    return ack_url(
        settings, payload["transition"], str(payload["alert"]["alert_id"]), target, delivery_id, now
    )


async def _email(
    to: str,
    payload: Mapping[str, Any],
    settings: AlertingSettings,
    delivery_id: str | None = None,
    target: str = "",
    now: datetime | None = None,
) -> None:
    ack = _ack_url(settings, payload, target, delivery_id, now or datetime.now(UTC))
    try:
        pages = pages_of(settings)
        message = formats.email_message(pages, payload, delivery_id, settings.smtp_sender, to, ack)
    except jinja2.TemplateError as exc:
        raise DeliveryError(f"template: {exc}") from exc
    try:
        await aiosmtplib.send(message, hostname=settings.smtp_host, port=settings.smtp_port, timeout=10)
    except (aiosmtplib.SMTPException, OSError) as exc:
        raise DeliveryError(f"SMTP: {exc}") from exc
