"""Notification channels: signed webhook, Slack-compatible webhook, e-mail over SMTP, Alertmanager v2.

Each delivery is independent; a failure raises DeliveryError with a message for the delivery log.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import time
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from email.message import EmailMessage
from typing import Any

import aiohttp
import aiosmtplib

from services.alerting.config import AlertingSettings
from services.alerting.rules import AlertingConfig
from services.alerting.ssrf import Allowed, DestinationRefused, check_url, is_guarded
from services.alerting.ssrf import guard as guard  # re-exported: checks a URL as a send would

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


def address(channel: str, target: str, config: AlertingConfig, settings: AlertingSettings) -> str:
    contact = config.contacts.get(target)
    found = _resolve_env(getattr(contact, channel, None)) if contact is not None else None
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


def _line(payload: Mapping[str, Any]) -> str:
    alert = payload["alert"]
    head = f"[{alert['level']}] {payload['transition']}: {alert['summary']}"
    return f"{head} (x{alert['count']}, alert {alert['alert_id']})"


async def _post(
    http: aiohttp.ClientSession, url: str, body: bytes, headers: Mapping[str, str], allow: Sequence[str]
) -> None:
    try:
        check_url(url, Allowed(allow))  # a host name is checked by the session's resolver, once
        if not is_guarded(http):
            raise DestinationRefused("refused: the HTTP session has no SSRF guard (ssrf.guarded_connector)")
        async with http.post(
            url, data=body, headers={"Content-Type": "application/json", **headers}, allow_redirects=False
        ) as response:
            if response.status >= 300:
                raise DeliveryError(f"HTTP {response.status}: {(await response.text())[:200]}")
            await response.read()
    except DestinationRefused as exc:
        raise DeliveryError(str(exc)) from exc
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise DeliveryError(f"{type(exc).__name__}: {exc}") from exc


async def send(
    channel: str,
    target: str,
    payload: Mapping[str, Any],
    config: AlertingConfig,
    settings: AlertingSettings,
    http: aiohttp.ClientSession,
    delivery_id: str | None = None,
) -> None:
    """Sends one notification; raises DeliveryError with what went wrong. `http` is the notifier's
    session (aiohttp: several times less CPU per request than httpx at hundreds of webhooks a second).
    `delivery_id` goes with a webhook (signed, in the body, and as DELIVERY_HEADER) for deduplication."""
    if channel == "webhook":
        document = {"target": target, **payload}
        if delivery_id is not None:
            document["delivery_id"] = delivery_id
        body = json.dumps(document, ensure_ascii=False).encode()
        stamp = str(int(time.time()))
        headers = {
            TIMESTAMP_HEADER: stamp,
            SIGNATURE_HEADER: sign(settings.webhook_secret.get_secret_value(), stamp, body),
        }
        if delivery_id is not None:
            headers[DELIVERY_HEADER] = delivery_id
        await _post(http, address("webhook", target, config, settings), body, headers, settings.webhook_allow)
    elif channel == "slack":
        body = json.dumps({"text": _line(payload)}, ensure_ascii=False).encode()
        await _post(http, address("slack", target, config, settings), body, {}, settings.webhook_allow)
    elif channel == "alertmanager":
        await _post(
            http,
            address("alertmanager", target, config, settings).rstrip("/") + "/api/v2/alerts",
            json.dumps([alertmanager_alert(payload)]).encode(),
            {},
            settings.webhook_allow,
        )
    elif channel == "email":
        await _email(address("email", target, config, settings), payload, settings)
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


async def _email(to: str, payload: Mapping[str, Any], settings: AlertingSettings) -> None:
    message = EmailMessage()
    message["From"], message["To"] = settings.smtp_sender, to
    message["Subject"] = _line(payload)[:180]
    message.set_content(json.dumps(payload, ensure_ascii=False, indent=2))
    try:
        await aiosmtplib.send(message, hostname=settings.smtp_host, port=settings.smtp_port, timeout=10)
    except (aiosmtplib.SMTPException, OSError) as exc:
        raise DeliveryError(f"SMTP: {exc}") from exc
