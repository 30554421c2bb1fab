"""What a page says: the facts stored with each notification, and their rendering through the Jinja2
templates of each channel (shipped under templates/, overridable file by file by an operator).

The facts are taken when the notification is enqueued (the alert's state at that transition) and stored
with it, so a retry an hour later says what was true when the page was due. Rendering happens at send
time, so a corrected template applies to retries too.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import jinja2

from services.alerting.rules import LEVELS, AlertingConfig, Policy

SHIPPED_TEMPLATES = Path(__file__).with_name("templates")
TRANSITIONS = (
    "fired",
    "escalated",
    "reminded",
    "reopened",
    "sla_missed",
    "handoff",
    "unsilenced",
    "acknowledged",
    "resolved",
)
"""What a page announces: an alert's transition, `unsilenced` (a silence that held its pages ended), or
`handoff` (a schedule's shift changed: the incoming person is told)."""
EXCERPT_CHARS = 140

TITLES = {
    "fired": "新告警 New alert",
    "escalated": "已升级 Escalated",
    "reminded": "提醒 Reminder",
    "reopened": "确认超时 Acknowledgement expired",
    "sla_missed": "超时未解决 Not resolved in time",
    "handoff": "值班交接 You are on call",
    "unsilenced": "静默结束 Silence ended",
    "acknowledged": "已确认 Acknowledged",
    "resolved": "已解决 Resolved",
}
NEXT_ACTIONS = {
    "escalate": "升级 escalates",
    "remind": "提醒 reminder",
    "ack_timeout": "确认超时 ack expires",
    "handoff": "交接 hands over",
}


def page_facts(
    *,
    rule_id: str,
    group: Mapping[str, str],
    evidence: Sequence[Mapping[str, Any]],
    policy: Policy,
    level: str,
    next_action: str | None,
    transition: str,
    config: AlertingConfig,
    member_tier: str | None,
) -> dict[str, Any]:
    """The facts a page shows beyond the alert event: the rule's description, the latest evidence
    (stars, label, masked excerpt, feedback channel, business line), the member's tier and what is next."""
    rule = next((r for r in config.rules if r.id == rule_id), None)
    latest: Mapping[str, Any] = evidence[-1] if evidence else {}
    later = [s.level for s in policy.steps if LEVELS.index(s.level) > LEVELS.index(level)]
    text = str(latest.get("text", ""))
    return {
        "rule": rule.description if rule is not None and rule.description else rule_id,
        "stars": latest.get("stars"),
        "label": latest.get("label"),
        "excerpt": text if len(text) <= EXCERPT_CHARS else text[: EXCERPT_CHARS - 1] + "…",
        "feedback_channel": latest.get("channel") or group.get("channel"),
        "business_line": group.get("business_line") or latest.get("business_line"),
        "aspects": list(latest.get("aspects", [])),
        "member_tier": member_tier,
        "next_action": next_action if transition != "resolved" else None,
        "next_level": later[0] if later and next_action == "escalate" else None,
    }


def sample_payload(transition: str = "fired") -> dict[str, Any]:
    """A page of every field, for checking templates (an operator's, before they are used) and tests."""
    return {
        "alert": {
            "alert_id": "00000000-0000-4000-8000-000000000001",
            "rule_id": "one-star-feedback",
            "group_key": {"feedback_id": "f-1"},
            "level": "L2",
            "status": "resolved" if transition == "resolved" else "open",
            "count": 3,
            "summary": "1-star feedback from a gold member",
            "customer_id": "C-1***9",
            "feedback_ids": [],
            "actor": "agent-wang" if transition == "acknowledged" else None,
            "at": "2026-01-05T09:30:00+00:00",
        },
        "transition": transition,
        "next_action_at": None if transition == "resolved" else "2026-01-05T11:30:00+00:00",
        "page": {
            "rule": "every 1-star or strongly negative feedback opens an L1 case",
            "stars": 1,
            "label": "negative",
            "excerpt": "包装破损，客服电话一直打不通 <b>",
            "feedback_channel": "app",
            "business_line": "retail",
            "aspects": [{"name": "packaging", "label": "negative"}],
            "member_tier": "gold",
            "next_action": None if transition == "resolved" else "escalate",
            "next_level": None if transition == "resolved" else "L3",
        },
    }


INERT = str.maketrans(
    {"<": "＜", ">": "＞", "[": "［", "]": "］", "*": "＊", "_": "＿", "`": "｀", "#": "＃"}
)


def inert(text: object) -> str:
    """A customer's words in a markdown page: the characters that would make a link, markup or a
    heading become their full-width look-alikes, so a feedback text cannot add a link to a page."""
    return str(text).translate(INERT)


def slack_escape(text: object) -> str:
    """Slack mrkdwn's escaping of its three control characters (a `<…>` would be a link)."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class Pages:
    """Renders pages: `render(channel, part, payload, delivery_id)` with the first of
    `{channel}/{transition}.{part}.j2` and `{channel}/{part}.j2`, the operator's directory first."""

    def __init__(self, operator_dir: Path | None, public_url: str, time_zone: str) -> None:
        loaders: list[jinja2.BaseLoader] = [jinja2.FileSystemLoader(str(SHIPPED_TEMPLATES))]
        if operator_dir is not None:
            loaders.insert(0, jinja2.FileSystemLoader(str(operator_dir)))
        self.env = jinja2.Environment(
            loader=jinja2.ChoiceLoader(loaders),
            # HTML parts escape what they show (a customer's text included); text and markdown do not.
            autoescape=jinja2.select_autoescape(enabled_extensions=("html.j2",), default=False),
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=False,
            # Templates are checked at start and fixed from then on: no file system look-up per page.
            auto_reload=False,
        )
        self.chosen: dict[tuple[str, str, str], jinja2.Template] = {}
        """The template each (channel, transition, part) renders with: Jinja2 caches the templates it
        found, but looks for a missing per-transition override again at every page."""
        self.public_url = public_url.rstrip("/")
        self.zone = ZoneInfo(time_zone)
        self.env.filters["local"] = self.local
        self.env.filters["inert"] = inert
        self.env.filters["slack"] = slack_escape

    def local(self, value: str | None) -> str:
        """An ISO time as `YYYY-MM-DD HH:MM` in the pages' time zone."""
        if not value:
            return ""
        return datetime.fromisoformat(value).astimezone(self.zone).strftime("%Y-%m-%d %H:%M")

    def context(self, payload: Mapping[str, Any], delivery_id: str | None) -> dict[str, Any]:
        alert = payload["alert"]
        page = payload.get("page") or {}
        transition = payload["transition"]
        return {
            **{key: page.get(key) for key in sample_payload()["page"]},
            "rule": page.get("rule") or alert["rule_id"],
            "aspects": page.get("aspects") or [],
            "alert": alert,
            "level": alert["level"],
            "transition": transition,
            "title": TITLES.get(transition, transition),
            "summary": alert["summary"],
            "count": alert["count"],
            "customer_id": alert.get("customer_id"),
            "actor": alert.get("actor"),
            "at": alert["at"],
            "next_action_at": payload.get("next_action_at"),
            "next_action_text": NEXT_ACTIONS.get(page.get("next_action") or "", ""),
            # a hand-off notice is about a schedule, not an alert: its link is the on-call view
            "alert_url": f"{self.public_url}/console#/oncall"
            if transition == "handoff"
            else f"{self.public_url}/console#/alerts/{alert['alert_id']}",
            "delivery_id": delivery_id or "",
            "ack_url": "",
            "time_zone": str(self.zone),
        }

    def render(
        self,
        channel: str,
        part: str,
        payload: Mapping[str, Any],
        delivery_id: str | None,
        **extra: Any,
    ) -> str:
        transition = payload["transition"]
        key = (channel, transition, part)
        template = self.chosen.get(key)
        if template is None:
            names = [f"{channel}/{transition}.{part}.j2", f"{channel}/{part}.j2"]
            template = self.chosen[key] = self.env.select_template(names)
        return template.render({**self.context(payload, delivery_id), **extra}).strip()

    def check(self, parts: Mapping[str, tuple[str, ...]]) -> None:
        """Renders every (channel, part) for every transition from a sample page; raises
        jinja2.TemplateError naming the template at fault (a typo is found at start, not at 3 a.m.)."""
        for channel, names in parts.items():
            for part in names:
                for transition in TRANSITIONS:
                    try:
                        for ack in ("", "https://cx.example.com/ack/token"):
                            self.render(
                                channel,
                                part,
                                sample_payload(transition),
                                "1",
                                ack_url=ack,
                                phone="+86",
                                text="t",
                            )
                    except jinja2.TemplateError as exc:
                        raise jinja2.TemplateError(f"{channel}/{part} ({transition}): {exc}") from exc


_pages: dict[tuple[Path | None, str, str], Pages] = {}


def pages_for(operator_dir: Path | None, public_url: str, time_zone: str) -> Pages:
    """One renderer per configuration (templates are compiled once and cached by Jinja2)."""
    key = (operator_dir, public_url, time_zone)
    if key not in _pages:
        _pages[key] = Pages(operator_dir, public_url, time_zone)
    return _pages[key]
