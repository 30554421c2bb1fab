"""Each notification channel against a real receiver: SMTP (aiosmtpd), Slack, the WeCom, DingTalk and
Feishu robots, an SMS provider (HTTP receivers answering as those services do), Alertmanager."""

from __future__ import annotations

import base64
import email
import hashlib
import hmac
import json
from email import policy
from typing import Any
from urllib.parse import parse_qs, unquote_plus, urlsplit

import aiohttp
import pytest
from aiosmtpd.controller import Controller

from scripts.infra import free_port
from scripts.prometheus_node import AlertmanagerNode
from services.alerting.config import AlertingSettings
from services.alerting.delivery.channels import DeliveryError, send
from services.alerting.delivery.ssrf import guarded_connector
from services.alerting.rules import AlertingConfig, Contact, load_rules
from tests.integration.alerting_helpers import Receiver
from tests.integration.helpers import eventually

pytestmark = pytest.mark.integration

PAYLOAD: dict[str, Any] = {
    "transition": "escalated",
    "alert": {
        "alert_id": "2b7f2d1e-5a0f-4d5e-9a53-3f7a1b2c9d10",
        "rule_id": "rust-mentions",
        "level": "L2",
        "status": "open",
        "count": 6,
        "summary": "生锈 / rust mentioned more than 5 times in 24 h [business_line=retail]",
        "group_key": {"business_line": "retail"},
        "at": "2026-11-20T11:00:00+00:00",
        "feedback_ids": [],
    },
    "next_action_at": "2026-11-21T11:00:00+00:00",
    "page": {
        "rule": "生锈 / rust mentioned more than 5 times in 24 h per business line",
        "stars": 2,
        "label": "negative",
        "excerpt": "锅底生锈了 <script>x</script> [点我](http://evil.example)",
        "feedback_channel": "app",
        "business_line": "retail",
        "aspects": [],
        "member_tier": None,
        "next_action": "escalate",
        "next_level": "L3",
    },
}


def config_with(**contacts: Contact) -> AlertingConfig:
    return load_rules().model_copy(update={"contacts": contacts})


class Inbox:
    def __init__(self) -> None:
        self.messages: list[email.message.EmailMessage] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(message, email.message.EmailMessage)
        self.messages.append(message)
        return "250 OK"


async def test_email_goes_out_over_smtp_as_text_and_html_with_its_delivery_id():
    inbox, port = Inbox(), free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        settings = AlertingSettings(smtp_port=port, public_url="https://cx.example.com")
        async with aiohttp.ClientSession(connector=guarded_connector(settings.webhook_allow)) as http:
            await send(
                "email",
                "managers",
                PAYLOAD,
                config_with(managers=Contact(email="mgr@example.com")),
                settings,
                http,
                delivery_id="42",
            )
    finally:
        controller.stop()
    (message,) = inbox.messages
    assert message["To"] == "mgr@example.com"
    assert (
        message["Subject"]
        == "[L2] 已升级 Escalated: 生锈 / rust mentioned more than 5 times in 24 h [business_line=retail]"
    )
    assert message["X-Feedback-Delivery"] == "42"
    assert message["Message-ID"] == "<delivery-42@feedback.local>"
    text = message.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
    page = message.get_body(preferencelist=("html",)).get_content()  # type: ignore[union-attr]
    link = "https://cx.example.com/console#/alerts/2b7f2d1e-5a0f-4d5e-9a53-3f7a1b2c9d10"
    for body in (text, page):
        assert link in body
        assert "2/5" in body
        assert "retail / app" in body
        assert "→ L3 2026-11-21 19:00 (Asia/Shanghai)" in body
    assert "<script>" in text
    assert "<script>" not in page  # the customer's words are escaped in HTML
    assert "&lt;script&gt;" in page


async def test_slack_gets_block_kit_and_an_unreachable_smtp_is_a_delivery_error():
    receiver = Receiver(answer=b"ok").start()
    try:
        settings = AlertingSettings(webhook_allow=["127.0.0.1"], smtp_port=free_port())
        config = config_with(ops=Contact(slack=receiver.url, email="ops@example.com"))
        async with aiohttp.ClientSession(connector=guarded_connector(settings.webhook_allow)) as http:
            await send("slack", "ops", PAYLOAD, config, settings, http, delivery_id="7")
            with pytest.raises(DeliveryError, match="SMTP"):
                await send("email", "ops", PAYLOAD, config, settings, http)
    finally:
        receiver.stop()
    (body,) = receiver.payloads()
    assert body["text"].startswith("L2 · 已升级 Escalated: 生锈 / rust")
    header, section, actions = body["blocks"]
    assert header["type"] == "header"
    assert section["block_id"] == "delivery-7"
    assert "&lt;script&gt;" in section["text"]["text"]
    assert actions["elements"][0]["url"].endswith("/console#/alerts/2b7f2d1e-5a0f-4d5e-9a53-3f7a1b2c9d10")


async def _robot(channel: str, answer: dict[str, Any], **contact: str) -> Receiver:
    """Sends PAYLOAD to a robot that answers `answer`; returns the receiver (stopped)."""
    receiver = Receiver(answer=json.dumps(answer).encode()).start()
    try:
        settings = AlertingSettings(webhook_allow=["127.0.0.1"])
        url = receiver.url + ("/robot/send?access_token=t" if channel == "dingtalk" else "/hook")
        config = config_with(ops=Contact(**{channel: url, **contact}))
        async with aiohttp.ClientSession(connector=guarded_connector(settings.webhook_allow)) as http:
            await send(channel, "ops", PAYLOAD, config, settings, http, delivery_id="9")
    finally:
        receiver.stop()
    return receiver


async def test_wecom_robot_gets_markdown_in_which_a_customer_cannot_add_a_link():
    receiver = await _robot("wecom", {"errcode": 0, "errmsg": "ok"})
    (body,) = receiver.payloads()
    assert body["msgtype"] == "markdown"
    content = body["markdown"]["content"]
    assert content.startswith('### <font color="warning">L2 · 已升级 Escalated</font>')
    assert "[查看告警 Open alert](http://127.0.0.1:8003/console#/alerts/" in content
    assert "](http://evil.example)" not in content
    assert "delivery 9" in content


async def test_dingtalk_robot_gets_a_signed_action_card():
    secret = "SECtest-secret"
    receiver = await _robot("dingtalk", {"errcode": 0, "errmsg": "ok"}, dingtalk_secret=secret)
    (request,) = receiver.requests
    query = parse_qs(urlsplit(request["path"]).query)
    timestamp, sign = query["timestamp"][0], query["sign"][0]
    expected = hmac.new(secret.encode(), f"{timestamp}\n{secret}".encode(), hashlib.sha256).digest()
    assert base64.b64decode(unquote_plus(sign) if "%" in sign else sign) == expected
    assert query["access_token"] == ["t"]
    card = json.loads(request["body"])["actionCard"]
    assert card["title"].startswith("L2 已升级 Escalated")
    open_alert, acknowledge = card["btns"]
    assert open_alert["actionURL"].endswith("/console#/alerts/2b7f2d1e-5a0f-4d5e-9a53-3f7a1b2c9d10")
    assert acknowledge["actionURL"].startswith("http://127.0.0.1:8003/ack/")
    assert "- **评分 Rating**: ★★☆☆☆ 2/5 · negative" in card["text"]


async def test_feishu_robot_gets_a_signed_card_coloured_by_level():
    secret = "feishu-secret"
    receiver = await _robot("feishu", {"code": 0, "msg": "success"}, feishu_secret=secret)
    (body,) = receiver.payloads()
    key = f"{body['timestamp']}\n{secret}".encode()
    assert base64.b64decode(body["sign"]) == hmac.new(key, b"", hashlib.sha256).digest()
    assert body["msg_type"] == "interactive"
    assert body["card"]["header"]["template"] == "orange"
    markdown, action = body["card"]["elements"]
    assert "**业务线 / 渠道 Line / channel**: retail / app" in markdown["content"]
    assert action["actions"][0]["url"].endswith("/console#/alerts/2b7f2d1e-5a0f-4d5e-9a53-3f7a1b2c9d10")


@pytest.mark.parametrize(
    ("channel", "answer", "error"),
    [
        ("wecom", {"errcode": 93000, "errmsg": "invalid webhook url"}, "code 93000, invalid webhook url"),
        ("dingtalk", {"errcode": 310000, "errmsg": "sign not match"}, "code 310000, sign not match"),
        ("feishu", {"code": 19021, "msg": "sign match fail"}, "code 19021, sign match fail"),
    ],
)
async def test_a_robot_that_refuses_with_http_200_is_a_delivery_error(channel, answer, error):
    with pytest.raises(DeliveryError, match=error):
        await _robot(channel, answer)


async def test_sms_goes_through_the_provider_with_its_token_and_the_operators_request_template(tmp_path):
    receiver = Receiver(answer=b'{"status": "queued"}').start()
    (tmp_path / "sms").mkdir()
    (tmp_path / "sms" / "request.j2").write_text(
        '{"mobile": {{ phone | tojson }}, "content": {{ text | tojson }},'
        ' "outId": {{ delivery_id | tojson }}}'
    )
    try:
        settings = AlertingSettings(
            webhook_allow=["127.0.0.1"],
            sms_url=receiver.url + "/send",
            sms_token="provider-token",
            templates_dir=tmp_path,
        )
        config = config_with(ops=Contact(sms="+8613800000000"))
        async with aiohttp.ClientSession(connector=guarded_connector(settings.webhook_allow)) as http:
            await send("sms", "ops", PAYLOAD, config, settings, http, delivery_id="11")
            with pytest.raises(DeliveryError, match="no sms number for 'nobody'"):
                await send("sms", "nobody", PAYLOAD, config, settings, http)
    finally:
        receiver.stop()
    (request,) = receiver.requests
    assert request["headers"]["Authorization"] == "Bearer provider-token"
    body = json.loads(request["body"])
    assert body["mobile"] == "+8613800000000"
    assert body["outId"] == "11"
    assert body["content"].startswith("【L2 已升级】生锈 / rust")


@pytest.fixture(scope="module")
def alertmanager(tmp_path_factory: pytest.TempPathFactory):
    node = AlertmanagerNode(home=tmp_path_factory.mktemp("alertmanager"), port=free_port())
    assert node.start()
    yield node.url
    node.stop()


async def test_alerts_reach_a_real_alertmanager(alertmanager: str):
    settings = AlertingSettings(webhook_allow=["127.0.0.1"], alertmanager_url=alertmanager)
    async with aiohttp.ClientSession(connector=guarded_connector(settings.webhook_allow)) as http:
        # Without a next transition the alert stays active until resolved (PAYLOAD's is long past).
        current = {**PAYLOAD, "next_action_at": None}
        await send("alertmanager", "executives", current, config_with(), settings, http)
        alerts: list[dict[str, Any]] = []

        async def listed() -> bool:
            nonlocal alerts
            async with http.get(alertmanager + "/api/v2/alerts") as response:
                alerts = await response.json()
            return bool(alerts)

        await eventually(listed, 5, "the alert listed by Alertmanager")
    (alert,) = alerts
    assert alert["labels"]["alertname"] == "rust-mentions"
    assert alert["labels"]["level"] == "L2"
    assert alert["labels"]["business_line"] == "retail"
    assert alert["annotations"]["summary"].startswith("生锈")
