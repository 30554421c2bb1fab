"""The local mail catcher that `make run` pages by e-mail: a page sent by the alerting service's e-mail
channel is stored, listed and shown (HTML sandboxed), and nothing else can be fetched through it."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
import uuid

import aiohttp
import pytest
import yaml

from scripts.infra import free_port
from scripts.mailcatcher import MailCatcherNode
from services.alerting.config import AlertingSettings
from services.alerting.delivery.channels import send
from services.alerting.delivery.pages import sample_payload
from services.alerting.delivery.ssrf import guarded_connector
from services.alerting.lifecycle.escalation import on_call
from services.alerting.rules import DEFAULT_RULES, Contact, load_rules
from tests.integration.alerting_helpers import Clock, alerting_app
from tests.integration.helpers import eventually
from tests.integration.test_alerting import alerts_of, scored_doc
from tests.integration.test_alerting import send as send_scored

pytestmark = pytest.mark.integration


def fetch(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, b""


@pytest.fixture
def catcher(tmp_path):
    node = MailCatcherNode(home=tmp_path / "mail", port=free_port(), smtp_port=free_port())
    assert node.start()
    yield node
    assert node.stop()


async def test_a_page_sent_by_email_is_listed_and_shown(catcher):
    settings = AlertingSettings(smtp_host="127.0.0.1", smtp_port=catcher.smtp_port)
    config = load_rules().model_copy(
        update={"contacts": {"agent-wang": Contact(email="agent-wang@example.com")}}
    )
    async with aiohttp.ClientSession(connector=guarded_connector([])) as http:
        await send("email", "agent-wang", sample_payload("fired"), config, settings, http, delivery_id="31")
    status, body = fetch(catcher.url + "/api/messages")
    assert status == 200
    (listed,) = json.loads(body)
    assert listed["to"] == "agent-wang@example.com"
    assert listed["subject"] == "[L2] 新告警 New alert: 1-star feedback from a gold member"
    assert listed["delivery"] == "31"
    status, page = fetch(f"{catcher.url}/messages/{listed['id']}")
    assert status == 200
    assert b"<iframe sandbox srcdoc=" in page
    assert "包装破损".encode() in page
    status, raw = fetch(f"{catcher.url}/raw/{listed['id']}")
    assert status == 200
    assert b"X-Feedback-Delivery: 31" in raw
    status, index = fetch(catcher.url + "/")
    assert b"1-star feedback from a gold member" in index
    assert fetch(f"{catcher.url}/messages/..%2F..%2Fetc%2Fpasswd")[0] == 404


@pytest.mark.usefixtures("topics")
async def test_with_the_shipped_rules_a_1_star_complaint_pages_the_person_on_call_by_email(
    catcher, kafka_settings, producer, tmp_path
):
    """What a newcomer sees after `make run`: the shipped rules file, unchanged but for unique rule ids,
    pages the frontline schedule's person on call, and the page is in the catcher."""
    suffix = uuid.uuid4().hex[:6]
    doc = yaml.safe_load(DEFAULT_RULES.read_text())
    for rule in doc["rules"]:
        rule["id"] += f"-{suffix}"
    rules = tmp_path / "rules.yaml"
    rules.write_text(yaml.safe_dump(doc, allow_unicode=True))
    clock = Clock()
    settings = {"smtp_host": "127.0.0.1", "smtp_port": catcher.smtp_port, "webhook_allow": []}
    async with alerting_app(kafka_settings, rules, clock, **settings) as (_, http):
        text = "质量太差了，客服也不回复"
        await send_scored(
            producer, kafka_settings, [scored_doc("C-M", 1, "negative", "retail", clock.now, text)]
        )
        (alert,) = await alerts_of(http, f"one-star-feedback-{suffix}", 1)

        def caught() -> list[dict[str, str]]:
            return [m for m in json.loads(fetch(catcher.url + "/api/messages")[1]) if m["subject"]]

        async def sent() -> bool:
            deliveries = (await http.get(f"/v1/alerts/{alert['id']}")).json()["deliveries"]
            return bool(deliveries) and all(d["status"] == "sent" for d in deliveries)

        await eventually(sent, what="the page delivered")
        detail = (await http.get(f"/v1/alerts/{alert['id']}")).json()
    person = on_call(load_rules(rules).schedules["frontline"], clock.now)
    (message,) = caught()
    assert message["to"] == f"{person}@example.com"
    assert message["subject"].startswith("[L1] 新告警 New alert")
    page = fetch(f"{catcher.url}/messages/{message['id']}")[1].decode()
    assert "质量太差了" in page
    assert f"/console#/alerts/{alert['id']}" in page
    assert [(d["channel"], d["target"], d["status"]) for d in detail["deliveries"]] == [
        ("email", person, "sent")
    ]
