"""Each notification channel against a real receiver: SMTP (aiosmtpd), Slack-style webhook, Alertmanager."""

from __future__ import annotations

import asyncio
import email
import socket
from typing import Any

import aiohttp
import pytest
from aiosmtpd.controller import Controller

from scripts.prometheus_node import AlertmanagerNode
from services.alerting.channels import DeliveryError, send
from services.alerting.config import AlertingSettings
from services.alerting.rules import AlertingConfig, Contact, load_rules
from services.alerting.ssrf import guarded_connector
from tests.integration.alerting_helpers import Receiver

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
}


def config_with(**contacts: Contact) -> AlertingConfig:
    return load_rules().model_copy(update={"contacts": contacts})


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Inbox:
    def __init__(self) -> None:
        self.messages: list[email.message.Message] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(email.message_from_bytes(envelope.content))
        return "250 OK"


async def test_email_goes_out_over_smtp():
    inbox, port = Inbox(), free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        settings = AlertingSettings(smtp_port=port)
        async with aiohttp.ClientSession(connector=guarded_connector(settings.webhook_allow)) as http:
            await send(
                "email",
                "managers",
                PAYLOAD,
                config_with(managers=Contact(email="mgr@example.com")),
                settings,
                http,
            )
    finally:
        controller.stop()
    (message,) = inbox.messages
    assert message["To"] == "mgr@example.com"
    assert "[L2] escalated" in str(email.header.make_header(email.header.decode_header(message["Subject"])))


async def test_slack_gets_a_text_payload_and_an_unreachable_smtp_is_a_delivery_error():
    receiver = Receiver().start()
    try:
        settings = AlertingSettings(webhook_allow=["127.0.0.1"], smtp_port=free_port())
        config = config_with(ops=Contact(slack=receiver.url, email="ops@example.com"))
        async with aiohttp.ClientSession(connector=guarded_connector(settings.webhook_allow)) as http:
            await send("slack", "ops", PAYLOAD, config, settings, http)
            with pytest.raises(DeliveryError, match="SMTP"):
                await send("email", "ops", PAYLOAD, config, settings, http)
    finally:
        receiver.stop()
    (body,) = receiver.payloads()
    assert body["text"].startswith("[L2] escalated: 生锈 / rust")


@pytest.fixture(scope="module")
def alertmanager(tmp_path_factory: pytest.TempPathFactory):
    node = AlertmanagerNode(home=tmp_path_factory.mktemp("alertmanager"), port=free_port())
    assert node.start()
    yield node.url
    node.stop()


async def test_alerts_reach_a_real_alertmanager(alertmanager: str):
    settings = AlertingSettings(webhook_allow=["127.0.0.1"], alertmanager_url=alertmanager)
    async with aiohttp.ClientSession(connector=guarded_connector(settings.webhook_allow)) as http:
        await send("alertmanager", "executives", PAYLOAD, config_with(), settings, http)
        for _ in range(50):
            async with http.get(alertmanager + "/api/v2/alerts") as response:
                alerts = await response.json()
            if alerts:
                break
            await asyncio.sleep(0.1)
    (alert,) = alerts
    assert alert["labels"]["alertname"] == "rust-mentions"
    assert alert["labels"]["level"] == "L2"
    assert alert["labels"]["business_line"] == "retail"
    assert alert["annotations"]["summary"].startswith("生锈")
