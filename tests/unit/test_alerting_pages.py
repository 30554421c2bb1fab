"""Pages: the facts stored with a notification, the shipped templates of every channel and transition,
an operator's overrides, and the formats' length limits and signatures."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jinja2
import pytest

from services.alerting.config import AlertingSettings
from services.alerting.delivery import formats
from services.alerting.delivery.pages import TRANSITIONS, Pages, inert, page_facts, sample_payload
from services.alerting.http import acklinks
from services.alerting.rules import Policy, load_rules

LINK = "https://cx.example.com/console#/alerts/00000000-0000-4000-8000-000000000001"


def pages(operator_dir: Path | None = None) -> Pages:
    return Pages(operator_dir, "https://cx.example.com/", "Asia/Shanghai")


def whole(channel: str, transition: str) -> str:
    """Everything a channel sends for a sample page, as one string."""
    p, payload = pages(), sample_payload(transition)
    if channel == "email":
        message = formats.email_message(p, payload, "77", "alerts@example.com", "a@example.com")
        return "\n".join([str(message["Subject"]), *(part.get_content() for part in message.iter_parts())])
    if channel == "sms":
        return str(json.loads(formats.sms_body(p, payload, "77", "+86"))["text"])
    bodies = {
        "slack": formats.slack_body(p, payload, "77"),
        "wecom": formats.wecom_body(p, payload, "77"),
        "dingtalk": formats.dingtalk_body(p, payload, "77"),
        "feishu": formats.feishu_body(p, payload, "77", "s", 1),
    }
    return json.dumps(bodies[channel], ensure_ascii=False)


@pytest.mark.parametrize("transition", TRANSITIONS)
@pytest.mark.parametrize("channel", sorted(formats.ROBOT_PARTS))
def test_every_shipped_page_says_level_summary_next_step_and_links_the_alert(channel, transition):
    page = whole(channel, transition)
    assert "L2" in page
    assert "1-star feedback from a gold member" in page
    # a hand-off notice is about a schedule: it links the on-call view instead of an alert
    assert (LINK.split("#")[0] + "#/oncall" if transition == "handoff" else LINK) in page
    if channel != "sms":
        assert "77" in page, "the delivery id is on the page"
        assert "packaging (negative)" in page
        if transition == "resolved":
            assert "Next" not in page
        else:
            assert "→ L3 2026-01-05 19:30 (Asia/Shanghai)" in page


def test_customer_words_are_escaped_in_html_and_made_inert_in_markdown():
    payload = sample_payload()
    payload["page"]["excerpt"] = "<img src=x onerror=alert(1)> [win](http://evil.example) **now**"
    html = pages().render("email", "page.html", payload, "1")
    assert "<img" not in html
    assert "&lt;img" in html
    for channel in ("wecom", "dingtalk", "feishu"):
        markdown = pages().render(channel, "md", payload, "1")
        assert "](http://evil.example)" not in markdown
        assert "<img" not in markdown
    slack = pages().render("slack", "mrkdwn", payload, "1")
    assert "&lt;img" in slack
    assert inert("[a](b)") == "［a］(b)"


def test_an_operator_template_replaces_the_shipped_one_per_channel_or_per_transition(tmp_path: Path):
    (tmp_path / "email").mkdir()
    (tmp_path / "email" / "subject.j2").write_text("[{{ level }}] {{ business_line }}: {{ summary }}")
    (tmp_path / "email" / "resolved.subject.j2").write_text("已解决 {{ alert.alert_id }}")
    mine = pages(tmp_path)
    assert mine.render("email", "subject", sample_payload("fired"), "1") == (
        "[L2] retail: 1-star feedback from a gold member"
    )
    assert mine.render("email", "subject", sample_payload("resolved"), "1") == (
        "已解决 00000000-0000-4000-8000-000000000001"
    )
    assert mine.render("email", "txt", sample_payload(), "1") == pages().render(
        "email", "txt", sample_payload(), "1"
    )
    mine.check(formats.ROBOT_PARTS)


def test_a_template_with_a_typo_is_refused_at_check_naming_it(tmp_path: Path):
    (tmp_path / "wecom").mkdir()
    (tmp_path / "wecom" / "md.j2").write_text("{{ levle }}")
    with pytest.raises(jinja2.TemplateError, match=r"wecom/md \(fired\): 'levle' is undefined"):
        pages(tmp_path).check(formats.ROBOT_PARTS)


def test_page_facts_take_the_latest_evidence_the_rule_description_and_the_next_level():
    config = load_rules()
    policy = config.policies["default"]
    evidence = [
        {"text": "old", "stars": 2, "label": "negative", "channel": "web"},
        {"text": "货" * 300, "stars": 1, "label": "negative", "channel": "app", "business_line": "retail"},
    ]
    facts = page_facts(
        rule_id="one-star-feedback",
        group={"feedback_id": "f"},
        evidence=evidence,
        policy=Policy.model_validate(policy.model_dump()),
        level="L1",
        next_action="escalate",
        transition="fired",
        config=config,
        member_tier="gold",
    )
    assert facts["rule"].startswith("every 1-star or strongly negative feedback, and every CSAT or star")
    assert (facts["stars"], facts["feedback_channel"], facts["business_line"]) == (1, "app", "retail")
    assert len(facts["excerpt"]) == 140
    assert facts["excerpt"].endswith("…")
    assert (facts["next_level"], facts["member_tier"]) == ("L2", "gold")
    resolved = page_facts(
        rule_id="gone",
        group={},
        evidence=[],
        policy=policy,
        level="L4",
        next_action=None,
        transition="resolved",
        config=config,
        member_tier=None,
    )
    assert resolved["rule"] == "gone"
    assert resolved["next_level"] is None
    assert resolved["stars"] is None


def test_an_old_delivery_without_page_facts_still_renders():
    payload = {k: v for k, v in sample_payload().items() if k != "page"}
    text = pages().render("email", "txt", payload, "5")
    assert "1-star feedback from a gold member" in text
    assert "规则 Rule: one-star-feedback" in text


def test_wecom_content_is_cut_to_its_byte_limit_on_a_character_boundary():
    payload = sample_payload()
    payload["alert"]["summary"] = "差" * 3000
    content = formats.wecom_body(pages(), payload, "1")["markdown"]["content"]
    assert len(content.encode()) <= formats.WECOM_MAX_BYTES
    assert content.endswith("…")
    assert formats.fit_bytes("短", 10) == "短"


def test_dingtalk_without_a_secret_keeps_the_url_and_feishu_without_one_sends_no_signature():
    url = "https://oapi.dingtalk.com/robot/send?access_token=t"
    assert formats.dingtalk_url(url, None, 1) == url
    signed = formats.dingtalk_url(url, "SEC1", 1700000000000)
    assert signed.startswith(url + "&timestamp=1700000000000&sign=")
    body = formats.feishu_body(pages(), sample_payload(), "1", None, 1700000000)
    assert "sign" not in body
    assert "timestamp" not in body


def test_robot_answers_are_read_as_each_robot_reports_errors():
    assert formats.robot_refusal("wecom", b'{"errcode": 0, "errmsg": "ok"}') is None
    assert formats.robot_refusal("feishu", b'{"StatusCode": 0, "StatusMessage": "success"}') is None
    assert "code 9499" in str(formats.robot_refusal("feishu", b'{"code": 9499, "msg": "Bad Request"}'))
    assert "other than JSON" in str(formats.robot_refusal("dingtalk", b"<html>"))
    assert formats.robot_refusal("slack", b"ok") is None


def test_an_sms_request_template_that_is_not_json_is_refused(tmp_path: Path):
    (tmp_path / "sms").mkdir()
    (tmp_path / "sms" / "request.j2").write_text("to={{ phone }}")
    with pytest.raises(ValueError, match="does not render JSON"):
        formats.sms_body(pages(tmp_path), sample_payload(), "1", "+86")
    default = json.loads(formats.sms_body(pages(), sample_payload(), "3", "+8613800000000"))
    assert default == {"to": "+8613800000000", "text": default["text"], "client_reference": "3"}
    assert default["text"].startswith("【L2 新告警】")


ACK = "https://cx.example.com/ack/TOKEN"


def test_a_page_that_asks_for_action_carries_its_ack_link_on_every_channel():
    p, payload = pages(), sample_payload("escalated")
    message = formats.email_message(p, payload, "1", "a@example.com", "b@example.com", ACK)
    assert all(ACK in part.get_content() for part in message.iter_parts())
    slack = formats.slack_body(p, payload, "1", ACK)
    assert [b["url"] for b in slack["blocks"][-1]["elements"]][-1] == ACK
    assert ACK in formats.wecom_body(p, payload, "1", ACK)["markdown"]["content"]
    card = formats.dingtalk_body(p, payload, "1", ACK)["actionCard"]
    assert [b["actionURL"] for b in card["btns"]] == [LINK, ACK]
    feishu = formats.feishu_body(p, payload, "1", None, 1, ACK)
    assert [b["url"] for b in feishu["card"]["elements"][-1]["actions"]] == [LINK, ACK]
    assert "btns" not in formats.dingtalk_body(p, payload, "1")["actionCard"]


def test_ack_tokens_round_trip_and_a_changed_or_foreign_token_is_refused():
    settings = AlertingSettings()
    now = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
    alert_id = "00000000-0000-4000-8000-000000000001"
    url = acklinks.ack_url(settings, "fired", alert_id, "agent-wang", "12", now)
    token = url.rsplit("/", 1)[1]
    link = acklinks.read_token(acklinks.ack_secret(settings), token)
    assert link == acklinks.AckLink("12", uuid.UUID(alert_id), "agent-wang", now + timedelta(days=7))
    assert acklinks.read_token(acklinks.ack_secret(settings), token[:-2] + "xx") is None
    other = AlertingSettings(console_secret="another-secret")
    assert acklinks.read_token(acklinks.ack_secret(other), token) is None
    assert acklinks.ack_url(settings, "resolved", alert_id, "agent-wang", "12", now) == ""
    assert acklinks.ack_url(settings, "fired", alert_id, "agent-wang", None, now) == ""


def test_the_committed_channel_samples_match_the_shipped_templates():
    from scripts.pagesamples import OUT, samples

    stale = [name for name, content in samples().items() if (OUT / name).read_text() != content]
    assert stale == [], "run python -m scripts.pagesamples"
