"""The on-call console in headless Chromium (Debian's, driven by Playwright) against served alerting and
loyalty apps on the real broker and database, with the alerting service on a virtual clock."""

from __future__ import annotations

import asyncio
import re
import socket
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from playwright.async_api import Page, async_playwright, expect
from sqlalchemy import text

from services.alerting.lifecycle.escalation import next_handoff, on_call
from services.alerting.lifecycle.timers import tick
from services.alerting.rules import load_rules
from services.loyalty.app import create_app as create_loyalty
from services.loyalty.config import LoyaltySettings
from shared.contracts.registry import COMMERCE_EVENTS, LOYALTY_CHANGES
from tests.conftest import spec_topic
from tests.integration.alerting_helpers import Clock, alerting_app, rules_file
from tests.integration.test_alerting import alerts_of, scored_doc, send, tier_doc, with_sections
from tests.integration.test_loyalty import purchase

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("topics")]
CHROMIUM = "/usr/bin/chromium"
SHOTS = Path("reports/console")
WAIT_MS = 15_000  # the console polls every 3 s
COMPLAINT = "包装破损，客服一直不回复 / the box arrived crushed and nobody answers"
PROBE = '<img src=x onerror="window.__xss = 1">服务太差'


@asynccontextmanager
async def served(app: Any) -> AsyncIterator[str]:
    """Serves an app (whose lifespan the caller runs) on a free port of 127.0.0.1; yields its base URL."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(
        uvicorn.Config(app, lifespan="off", log_level="warning", timeout_graceful_shutdown=2)
    )
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        await asyncio.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        await task
        sock.close()


@asynccontextmanager
async def loyalty_served(kafka_settings: Any, database: Any) -> AsyncIterator[str]:
    app = create_loyalty(
        LoyaltySettings(kafka=kafka_settings, consumer_group=f"loyalty-{uuid.uuid4().hex[:8]}")
    )
    async with app.router.lifespan_context(app), served(app) as url:
        yield url
    async with database.connection() as conn:
        await conn.execute(
            text("DELETE FROM loyalty.outbox WHERE topic = :t"),
            {"t": spec_topic(LOYALTY_CHANGES, kafka_settings)},
        )


@pytest.fixture
def shots() -> Path:
    """Screenshots land in the git-ignored reports/console/."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    return SHOTS


async def sign_in(page: Page, base: str, name: str) -> None:
    await page.goto(f"{base}/console")
    await page.fill("#sign-in-name", name)
    await page.fill("#sign-in-key", "dev-operator-key")
    await page.click("#sign-in-form button[type=submit]")
    await expect(page.locator("#console")).to_be_visible()


async def test_on_call_signs_in_sees_the_alert_acks_it_escalation_stops_and_resolves_it(  # noqa: PLR0915
    kafka_settings, producer, database, tmp_path, receiver, shots
):  # one on-call shift in the browser, step by step: its length is the scenario's
    clock = Clock(datetime.now(UTC).replace(microsecond=0))
    rules, suffix = rules_file(tmp_path, receiver.url, resolution_targets=False)  # timeouts alone
    rule = f"one-star-feedback-{suffix}"
    who = f"C-{suffix}"
    async with (
        loyalty_served(kafka_settings, database) as loyalty_url,
        alerting_app(kafka_settings, rules, clock, loyalty_url=loyalty_url) as (app, http),
        served(app) as base,
        async_playwright() as playwright,
    ):
        vip = f"VIP-{suffix}"
        await send(producer, kafka_settings, [tier_doc(vip, "gold")], LOYALTY_CHANGES)
        await send(producer, kafka_settings, [scored_doc(who, 1, "negative", "retail", clock.now, COMPLAINT)])
        (alert,) = await alerts_of(http, rule, 1)
        mine = (await http.get("/v1/alerts", params={"customer": who})).json()["alerts"]
        assert [a["id"] for a in mine] == [alert["id"]]
        assert mine[0]["next_escalation_at"] is not None
        await send(
            producer, kafka_settings, [purchase(who, "12000.00", at=datetime.now(UTC))], COMMERCE_EVENTS
        )
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox"], headless=True
        )
        page = await browser.new_page(viewport={"width": 1280, "height": 900})
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        card = page.locator(f'section[data-level="L1"] a[data-alert-id="{alert["id"]}"]')

        # anonymous: the sign-in form and nothing else; a wrong key is refused
        await page.goto(f"{base}/console")
        await expect(page.locator("#sign-in")).to_be_visible()
        assert await page.locator("#console").is_hidden()
        await page.fill("#sign-in-name", "agent-wang")
        await page.fill("#sign-in-key", "not-the-key")
        await page.click("#sign-in-form button[type=submit]")
        await expect(page.locator("#sign-in-error")).to_have_text("Wrong operator key.")
        await sign_in(page, base, "agent-wang")

        # the fired alert in the L1 list, with its age and countdown to escalation
        await expect(card).to_be_visible(timeout=WAIT_MS)
        await expect(card.locator(".escalation")).to_have_text(re.compile(r"Escalates in (2h 0m|1h 59m)"))
        await card.click()
        await expect(page.locator("#detail-status")).to_have_text("open")
        await expect(page.locator("#evidence blockquote")).to_have_text(COMPLAINT)
        await expect(page.locator("#evidence .stars").first).to_have_text("★☆☆☆☆")

        # two hours on the service clock: the console shows the escalation to L2 by itself
        clock.advance(hours=2)
        await tick(app.state.runtime, app.state.alerting_state, clock.now)
        await expect(page.locator("#detail-level")).to_have_text("L2", timeout=WAIT_MS)
        await expect(page.locator('#timeline li[data-kind="escalated"]')).to_contain_text("L1 → L2")
        await expect(page.locator("#deliveries tbody tr")).to_have_count(2, timeout=WAIT_MS)
        await expect(page.locator("#detail-escalation")).to_contain_text("Escalates in")
        await expect(page.locator("#detail-tier")).to_have_text("silver", timeout=30_000)

        # ack with a note: escalation stops, as the API confirms
        await page.fill("#action-note", "正在回电客户 / calling the customer")
        await page.click("#ack")
        await expect(page.locator("#detail-status")).to_have_text("acknowledged")
        await expect(page.locator("#detail-escalation")).to_have_text("No further escalation scheduled")
        acked = (await http.get(f"/v1/alerts/{alert['id']}")).json()
        assert acked["next_escalation_at"] is None
        assert acked["acked_by"] == "agent-wang"
        clock.advance(hours=24)  # 24 h at L2 would have escalated to L3
        await tick(app.state.runtime, app.state.alerting_state, clock.now)
        await expect(page.locator('#timeline li[data-kind="reminded"]')).to_be_visible(timeout=WAIT_MS)
        await expect(page.locator("#detail-level")).to_have_text("L2")
        assert (await http.get(f"/v1/alerts/{alert['id']}")).json()["level"] == "L2"
        await page.screenshot(path=str(shots / "console-desktop.png"), full_page=True)

        # member lookup through the console: loyalty's balance and tier, and the open complaint
        await page.click(f'#view-alert a[href="#/members/{who}"]')
        await expect(page.locator("#member-tier")).to_have_text("silver", timeout=WAIT_MS)
        await expect(page.locator("#member-balance")).not_to_have_text("0")
        await expect(page.locator(f'#complaints a[data-alert-id="{alert["id"]}"]')).to_be_visible()

        # resolve with a note
        await page.click(f'#complaints a[data-alert-id="{alert["id"]}"]')
        await page.fill("#action-note", "refunded, customer satisfied")
        await page.click("#resolve")
        await expect(page.locator("#detail-status")).to_have_text("resolved")
        await expect(page.locator('#timeline li[data-kind="resolved"] .note')).to_have_text(
            "refunded, customer satisfied"
        )
        assert (await http.get(f"/v1/alerts/{alert['id']}")).json()["status"] == "resolved"

        # the resolved case's callback (回访), due in 72 h, from the member's page: a 5 opens a review
        await page.click(f'#view-alert a[href="#/members/{who}"]')
        await page.click("#member-callbacks")
        due = page.locator("#open-callbacks li.callback")
        await expect(due).to_have_count(1, timeout=WAIT_MS)
        await expect(due.locator(".status")).to_have_text("due")
        await due.locator("button").click()
        await page.fill("#callback-nps", "5")
        await page.fill("#callback-note", "仍不满意 still unhappy")
        await page.click("#callback-form button[type=submit]")
        await expect(page.locator("#open-callbacks")).to_have_count(0, timeout=WAIT_MS)
        await expect(page.locator("#done-callbacks tbody tr")).to_contain_text("review opened")
        (callback,) = (await http.get("/v1/callbacks", params={"customer": who, "state": "done"})).json()[
            "callbacks"
        ]
        assert (callback["nps"], callback["done_by"]) == (5, "agent-wang")
        review = (await http.get(f"/v1/alerts/{callback['review_alert_id']}")).json()
        assert (review["rule_id"], review["level"]) == ("callback-review", "L2")
        await http.post(f"/v1/alerts/{review['id']}/resolve", json={"actor": "manager-zhao"})

        # a silence: created from matchers and a time range, listed, then expired
        await page.click("a[data-tab=silences]")
        await page.fill("#silence-matchers", f"rule={rule}, business_line=retail")
        await page.fill("#silence-comment", "store maintenance")
        await page.click("#silence-form button[type=submit]")
        made = page.locator("li.silence", has_text="store maintenance").filter(has_text=rule)
        await expect(made.locator(".status")).to_have_text("active")
        await expect(made.locator("code")).to_have_text(f"rule={rule}, business_line=retail")
        await made.locator("button").click()
        await expect(made).to_have_count(0)
        await page.click("a[data-tab=alerts]")
        await expect(card).to_have_count(0, timeout=WAIT_MS)

        # who is on call on the schedule at the service's clock, and who is next
        await page.click("a[data-tab=oncall]")
        rotation = load_rules(rules).schedules["frontline"]
        _, following = next_handoff(rotation, clock.now)
        row = page.locator("#oncall-table tbody tr").first
        await expect(row).to_contain_text(on_call(rotation, clock.now), timeout=WAIT_MS)
        await expect(row).to_contain_text(following)
        # the shipped rules' mute window, listed with its hours and whether it mutes now
        window = page.locator("#mute-table tbody tr", has_text="weekday-nights")
        await expect(window).to_contain_text("monday:friday 22:00–24:00, 00:00–08:00 (Asia/Shanghai)")
        await expect(window).to_contain_text("not used by any policy")
        await page.click("a[data-tab=alerts]")

        # a phone-width screen in Chinese: nothing wider than the screen
        await send(
            producer,
            kafka_settings,
            [
                scored_doc(who, 1, "negative", "retail", clock.now, PROBE),
                scored_doc(vip, 1, "negative", "retail", clock.now, "物流太慢"),
            ],
        )
        fresh = {a["customer_id"]: a for a in await alerts_of(http, rule, 3) if a["id"] != alert["id"]}
        second, gold = fresh[who], fresh[vip]
        assert gold["level"] == "L2"  # a gold member starts a level higher
        phone = await browser.new_page(viewport={"width": 390, "height": 844}, is_mobile=True)
        phone.on("pageerror", lambda error: errors.append(str(error)))
        await sign_in(phone, base, "值班-王")
        await phone.select_option("#lang", "zh")
        await expect(phone.locator("a[data-tab=alerts]")).to_have_text("告警")
        mobile_card = phone.locator(f'section[data-level="L1"] a[data-alert-id="{second["id"]}"]')
        gold_card = phone.locator(f'section[data-level="L2"] a[data-alert-id="{gold["id"]}"]')
        await expect(mobile_card.locator(".escalation")).to_contain_text("后升级", timeout=WAIT_MS)
        await expect(gold_card).to_be_visible()
        await phone.click('#level-filter [data-filter="L1"]')  # only L1 now
        await expect(gold_card).to_have_count(0)
        await expect(mobile_card).to_be_visible()
        assert await phone.evaluate("document.documentElement.scrollWidth") <= 390
        await phone.screenshot(path=str(shots / "console-phone.png"))
        await mobile_card.click()
        await expect(phone.locator("#detail-status")).to_have_text("未处理")
        await expect(phone.locator("#evidence blockquote")).to_have_text(PROBE)  # as entered, not markup
        assert await phone.evaluate("window.__xss") is None
        assert await phone.evaluate("document.documentElement.scrollWidth") <= 390
        await phone.screenshot(path=str(shots / "console-phone-detail.png"), full_page=True)
        await phone.reload()  # the language choice is remembered
        await expect(phone.locator("a[data-tab=alerts]")).to_have_text("告警")
        await browser.close()
        for left in (second, gold):  # the database is shared: leave no open alert behind
            await http.post(f"/v1/alerts/{left['id']}/resolve", json={"actor": "tests"})
    assert errors == []


async def test_console_data_and_writes_refuse_anonymous_forged_and_cross_site_requests(
    kafka_settings, tmp_path, receiver
):
    clock = Clock()
    rules, _ = rules_file(tmp_path, receiver.url)
    silence = {
        "matchers": [{"name": "rule", "value": "x"}],
        "ends_at": (clock.now + timedelta(hours=1)).isoformat(),
        "created_by": "someone-else",
        "comment": "maintenance",
    }
    async with alerting_app(kafka_settings, rules, clock, loyalty_url="http://127.0.0.1:9") as (app, http):
        lookup = await http.get("/console/api/members/C-nobody")  # the operator key opens it too
        assert lookup.status_code == 200
        assert lookup.json() == {
            "customer_id": "C-nobody",
            "loyalty": "unavailable",
            "member": None,
            "ledger": [],
            "open_alerts": [],
        }
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://alerting") as anonymous:
            page = await anonymous.get("/console")
            assert page.status_code == 200
            assert "sign-in-form" in page.text
            assert "default-src 'self'" in page.headers["content-security-policy"]
            some = uuid.uuid4()
            for method, path, body in [
                ("GET", "/v1/alerts", None),
                ("GET", f"/v1/alerts/{some}", None),
                ("POST", f"/v1/alerts/{some}/ack", {"actor": "x"}),
                ("POST", f"/v1/alerts/{some}/resolve", {"actor": "x"}),
                ("GET", "/v1/silences", None),
                ("POST", "/v1/silences", silence),
                ("DELETE", f"/v1/silences/{some}?actor=x", None),
                ("GET", "/console/api/members/C-1", None),
                ("GET", "/console/session", None),
            ]:
                response = await anonymous.request(method, path, json=body)
                assert response.status_code == 401, (method, path, response.status_code)
            wrong = await anonymous.post("/console/session", json={"key": "guess", "name": "eve"})
            assert wrong.status_code == 401
            assert "set-cookie" not in wrong.headers
            anonymous.cookies.set("console_session", "e30.forged")
            assert (await anonymous.get("/v1/alerts")).status_code == 401

        async with httpx.AsyncClient(transport=transport, base_url="http://alerting") as browser:
            signed = await browser.post(
                "/console/session", json={"key": "dev-operator-key", "name": "agent-li"}
            )
            assert signed.status_code == 200
            cookie = signed.headers["set-cookie"].lower()
            assert "httponly" in cookie
            assert "samesite=strict" in cookie
            csrf = signed.json()["csrf"]
            params: dict[str, Any] = {"status": ["open", "acknowledged"], "limit": 5}
            listed = await browser.get("/v1/alerts", params=params)
            assert listed.status_code == 200
            again = await browser.get(
                "/v1/alerts", params=params, headers={"If-None-Match": listed.headers["etag"]}
            )
            assert again.status_code == 304
            assert (await browser.post("/v1/silences", json=silence)).status_code == 403
            cross = await browser.post(
                "/v1/silences", json=silence, headers={"X-CSRF-Token": csrf, "Origin": "https://evil.example"}
            )
            assert cross.status_code == 403
            made = await browser.post(
                "/v1/silences", json=silence, headers={"X-CSRF-Token": csrf, "Origin": "http://alerting"}
            )
            assert made.status_code == 201
            listed_silences = (await browser.get("/v1/silences")).json()
            mine = next(s for s in listed_silences if s["id"] == made.json()["id"])
            assert mine["created_by"] == "agent-li"  # the session's name, not what the body claims
            gone = await browser.delete(
                f"/v1/silences/{mine['id']}", params={"actor": "x"}, headers={"X-CSRF-Token": csrf}
            )
            assert gone.status_code == 200
            assert (await browser.delete("/console/session")).status_code == 204
            browser.cookies.clear()
            assert (await browser.get("/v1/alerts")).status_code == 401


async def test_the_alert_page_says_its_page_was_held_by_an_inhibition_rule_not_a_silence(
    kafka_settings, producer, tmp_path, receiver
):
    clock = Clock(datetime.now(UTC).replace(microsecond=0))
    rules, suffix = rules_file(tmp_path, receiver.url)
    rule = f"one-star-feedback-{suffix}"
    inhibit = [{"source": {"rule": rule}, "target": {"rule": rule}, "equal": ["business_line"]}]
    with_sections(rules, lambda doc: doc.update(inhibit_rules=inhibit))
    line = f"line-{suffix}"
    async with (
        alerting_app(kafka_settings, rules, clock) as (app, http),
        served(app) as base,
        async_playwright() as playwright,
    ):
        await send(producer, kafka_settings, [scored_doc(f"S-{suffix}", 1, "negative", line, clock.now)])
        (source,) = await alerts_of(http, rule, 1)
        await send(producer, kafka_settings, [scored_doc(f"T-{suffix}", 1, "negative", line, clock.now)])
        inhibited = next(a for a in await alerts_of(http, rule, 2) if a["id"] != source["id"])
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox"], headless=True
        )
        page = await browser.new_page(viewport={"width": 1280, "height": 900})
        await sign_in(page, base, "agent-wang")
        await page.goto(f"{base}/console#/alerts/{inhibited['id']}")
        held = page.locator('#timeline li[data-kind="notification_held"]')
        await expect(held).to_contain_text("page held by an inhibition rule", timeout=WAIT_MS)
        await page.goto(f"{base}/console#/alerts/{source['id']}")
        await expect(page.locator("#detail-status")).to_have_text("open", timeout=WAIT_MS)
        await expect(page.locator('#timeline li[data-kind="notification_held"]')).to_have_count(0)
        await browser.close()
