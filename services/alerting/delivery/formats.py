"""Each channel's message format around a rendered page, the robots' signing schemes, and how each
receiver says it accepted a message.

Delivery ids, per channel: the signed webhook carries it in its body and the X-Feedback-Delivery header;
e-mail in X-Feedback-Delivery and the Message-ID; SMS in the provider request's template (`delivery_id`);
Slack in the section's `block_id`; WeCom, DingTalk and Feishu robots accept no id of their own, so the
page's last line shows it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Mapping
from email.message import EmailMessage
from email.utils import formatdate
from typing import Any
from urllib.parse import quote_plus

from services.alerting.delivery.pages import Pages

ROBOT_PARTS: dict[str, tuple[str, ...]] = {
    "email": ("subject", "txt", "page.html"),
    "slack": ("title", "mrkdwn"),
    "wecom": ("md",),
    "dingtalk": ("title", "md"),
    "feishu": ("title", "md"),
    "sms": ("txt", "request"),
}
"""The template parts each rendered channel uses (the webhook and Alertmanager send structured data)."""

WECOM_MAX_BYTES = 4096
"""WeCom robots refuse markdown content over 4,096 bytes (UTF-8)."""
FEISHU_COLOURS = {"L1": "yellow", "L2": "orange", "L3": "red", "L4": "carmine"}
OPEN = "查看告警 Open alert"
ACK = "确认 Acknowledge"


def fit_bytes(text: str, limit: int) -> str:
    """`text` cut to at most `limit` UTF-8 bytes, on a character boundary, marked when cut."""
    data = text.encode()
    if len(data) <= limit:
        return text
    return data[: limit - len("…".encode())].decode(errors="ignore") + "…"


def email_message(
    pages: Pages,
    payload: Mapping[str, Any],
    delivery_id: str | None,
    sender: str,
    to: str,
    ack_url: str = "",
) -> EmailMessage:
    """Text and HTML alternatives of the page."""
    message = EmailMessage()
    message["From"], message["To"] = sender, to
    message["Subject"] = " ".join(
        pages.render("email", "subject", payload, delivery_id, ack_url=ack_url).split()
    )[:180]
    message["Date"] = formatdate(localtime=False)
    if delivery_id is not None:
        message["X-Feedback-Delivery"] = delivery_id
        message["Message-ID"] = f"<delivery-{delivery_id}@{sender.rpartition('@')[2] or 'feedback.local'}>"
    message.set_content(pages.render("email", "txt", payload, delivery_id, ack_url=ack_url))
    message.add_alternative(
        pages.render("email", "page.html", payload, delivery_id, ack_url=ack_url), subtype="html"
    )
    return message


def slack_body(
    pages: Pages, payload: Mapping[str, Any], delivery_id: str | None, ack_url: str = ""
) -> dict[str, Any]:
    """Block Kit: a header, the page as mrkdwn, buttons to the alert and to acknowledge it; `text` is
    the notification line."""
    title = pages.render("slack", "title", payload, delivery_id, ack_url=ack_url)
    url = pages.context(payload, delivery_id)["alert_url"]
    section: dict[str, Any] = {
        "type": "section",
        "text": {
            "type": "mrkdwn",
            "text": pages.render("slack", "mrkdwn", payload, delivery_id, ack_url=ack_url)[:3000],
        },
    }
    if delivery_id is not None:
        section["block_id"] = f"delivery-{delivery_id}"
    buttons: list[dict[str, Any]] = [
        {"type": "button", "text": {"type": "plain_text", "text": OPEN}, "url": url, "style": "danger"}
    ]
    if ack_url:
        # With the app's interactivity on, Slack posts the click (action "ack", the token as value) to
        # /slack/actions; without it, the button opens the ack link.
        token = ack_url.rsplit("/", 1)[-1]
        buttons.append(
            {
                "type": "button",
                "text": {"type": "plain_text", "text": ACK},
                "url": ack_url,
                "action_id": "ack",
                "value": token[:2000],
            }
        )
    return {
        "text": title,
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": title[:150], "emoji": True}},
            section,
            {"type": "actions", "elements": buttons},
        ],
    }


def wecom_body(
    pages: Pages, payload: Mapping[str, Any], delivery_id: str | None, ack_url: str = ""
) -> dict[str, Any]:
    content = fit_bytes(pages.render("wecom", "md", payload, delivery_id, ack_url=ack_url), WECOM_MAX_BYTES)
    return {"msgtype": "markdown", "markdown": {"content": content}}


def dingtalk_body(
    pages: Pages, payload: Mapping[str, Any], delivery_id: str | None, ack_url: str = ""
) -> dict[str, Any]:
    """An action card: the page as markdown with one button to the alert."""
    card: dict[str, Any] = {
        "title": pages.render("dingtalk", "title", payload, delivery_id, ack_url=ack_url),
        "text": pages.render("dingtalk", "md", payload, delivery_id, ack_url=ack_url),
        "btnOrientation": "1",
    }
    url = pages.context(payload, delivery_id)["alert_url"]
    if ack_url:
        card["btns"] = [{"title": OPEN, "actionURL": url}, {"title": ACK, "actionURL": ack_url}]
    else:
        card |= {"singleTitle": OPEN, "singleURL": url}
    return {"msgtype": "actionCard", "actionCard": card}


def dingtalk_url(url: str, secret: str | None, timestamp_ms: int) -> str:
    """DingTalk's 加签: `timestamp` (ms) and `sign` = base64(HMAC-SHA256(secret, "timestamp\\nsecret"))
    appended to the robot URL; without a secret the URL as configured (keyword or IP allow-list)."""
    if not secret:
        return url
    digest = hmac.new(secret.encode(), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256).digest()
    return f"{url}&timestamp={timestamp_ms}&sign={quote_plus(base64.b64encode(digest).decode())}"


def feishu_sign(secret: str, timestamp_s: int) -> str:
    """Feishu/Lark's signature: base64 of HMAC-SHA256 keyed by "timestamp\\nsecret" over nothing."""
    return base64.b64encode(
        hmac.new(f"{timestamp_s}\n{secret}".encode(), b"", hashlib.sha256).digest()
    ).decode()


def feishu_body(
    pages: Pages,
    payload: Mapping[str, Any],
    delivery_id: str | None,
    secret: str | None,
    timestamp_s: int,
    ack_url: str = "",
) -> dict[str, Any]:
    """An interactive card coloured by level: the page as markdown and a button to the alert."""
    body: dict[str, Any] = {
        "msg_type": "interactive",
        "card": {
            "config": {"wide_screen_mode": True},
            "header": {
                "template": FEISHU_COLOURS.get(payload["alert"]["level"], "red"),
                "title": {
                    "tag": "plain_text",
                    "content": pages.render("feishu", "title", payload, delivery_id, ack_url=ack_url),
                },
            },
            "elements": [
                {
                    "tag": "markdown",
                    "content": pages.render("feishu", "md", payload, delivery_id, ack_url=ack_url),
                },
                {
                    "tag": "action",
                    "actions": [
                        {
                            "tag": "button",
                            "text": {"tag": "plain_text", "content": OPEN},
                            "url": pages.context(payload, delivery_id)["alert_url"],
                            "type": "primary",
                        },
                        *(
                            [{"tag": "button", "text": {"tag": "plain_text", "content": ACK}, "url": ack_url}]
                            if ack_url
                            else []
                        ),
                    ],
                },
            ],
        },
    }
    if secret:
        body = {"timestamp": str(timestamp_s), "sign": feishu_sign(secret, timestamp_s), **body}
    return body


def sms_body(
    pages: Pages, payload: Mapping[str, Any], delivery_id: str | None, phone: str, ack_url: str = ""
) -> bytes:
    """The provider request rendered from `sms/request.j2` (must be JSON), with the short page as `text`."""
    text = pages.render("sms", "txt", payload, delivery_id, ack_url=ack_url)
    rendered = pages.render("sms", "request", payload, delivery_id, ack_url=ack_url, phone=phone, text=text)
    try:
        json.loads(rendered)
    except ValueError as exc:
        raise ValueError(f"sms/request.j2 does not render JSON: {exc}") from exc
    return rendered.encode()


def robot_refusal(channel: str, body: bytes) -> str | None:
    """Robots answer HTTP 200 even when they refuse a message: the error in their JSON, or None when
    accepted (WeCom and DingTalk `errcode` 0; Feishu `code` 0, or `StatusCode` 0 from older hooks)."""
    if channel not in ("wecom", "dingtalk", "feishu"):
        return None
    try:
        answer = json.loads(body)
    except ValueError:
        return f"{channel} answered something other than JSON: {body[:200]!r}"
    if not isinstance(answer, dict):
        return f"{channel} answered {answer!r:.200}"
    code = answer.get("errcode", answer.get("code", answer.get("StatusCode")))
    if code == 0:
        return None
    message = answer.get("errmsg", answer.get("msg", answer.get("StatusMessage", "")))
    return f"{channel} refused the message: code {code}, {message}"[:300]
