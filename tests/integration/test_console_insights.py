"""The console's Insights page in headless Chromium: KPI trends per business line, SLA compliance by level
and the worst cells of the week with their records, read from a served insights app through alerting's
same-origin proxy, in English and Chinese."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from playwright.async_api import async_playwright, expect
from sqlalchemy import text

from services.insights.app import create_app as create_insights
from services.insights.config import InsightsSettings
from shared.contracts.registry import ALERTS
from tests.alerting_data import scored
from tests.integration.alerting_helpers import Clock, alerting_app, rules_file
from tests.integration.test_console import CHROMIUM, served, shots, sign_in
from tests.integration.test_insights import alert, callback, feedback, publish

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("topics")]
__all__ = ["shots"]  # the fixture, imported
WAIT_MS = 15_000


@pytest.fixture
async def lines(database) -> AsyncIterator[tuple[str, str]]:
    """Two business lines of this test's own, removed afterwards so that later runs' charts are theirs."""
    tag = uuid.uuid4().hex[:6]
    yield f"ui-good-{tag}", f"ui-bad-{tag}"
    async with database.connection() as conn:
        for table, column in (("feedback", "business_line"), ("alerts", "business_line")):
            await conn.execute(
                text(f"DELETE FROM insights.{table} WHERE {column} LIKE :p"), {"p": f"ui-%-{tag}"}
            )
        for table in ("feedback_cells", "alert_cells"):
            await conn.execute(
                text(f"DELETE FROM insights.{table} WHERE v1 LIKE :p OR v2 LIKE :p"), {"p": f"ui-%-{tag}"}
            )


async def test_the_insights_page_draws_trends_slas_and_the_worst_cells_with_their_records(
    kafka_settings, producer, tmp_path, lines, shots
):
    good, bad = lines
    # The page charts the periods up to the service's today: a today of this test's own, far from every
    # other test's records (the end-to-end platform's insights counts thousands), makes its lines the
    # only ones drawn, whatever ran before.
    now = datetime.now(UTC).replace(microsecond=0) + timedelta(days=400)
    group = f"insights-{uuid.uuid4().hex[:8]}"
    settings = InsightsSettings(kafka=kafka_settings, consumer_group=group)
    insights = create_insights(settings)
    insights.state.today = lambda: now.astimezone(settings.zone()).date()
    records = []
    for day in range(3):
        at = now - timedelta(days=day, minutes=5)
        records += [scored(at, "positive", nps=10, csat=5, ces=2, business_line=good) for _ in range(20)]
        records += [
            scored(
                at,
                "negative",
                nps=1,
                csat=1,
                ces=6,
                business_line=bad,
                channel="phone",
                text=f"退款拖了{day + 1}周",
            )
            for _ in range(20)
        ]
    fired = uuid.uuid4()
    called = uuid.uuid4()
    alerts = [
        alert("alert.fired", fired, now - timedelta(hours=3), "L1", bad, [records[20].feedback_id]),
        alert("alert.acknowledged", fired, now - timedelta(hours=2, minutes=30), "L1", bad, []),
        alert("alert.fired", called, now - timedelta(hours=3), "L1", bad, []),
        alert("alert.resolved", called, now - timedelta(hours=2), "L1", bad, []),
        callback("callback.scheduled", called, now + timedelta(hours=70), now - timedelta(hours=2)),
        callback("callback.done", called, now + timedelta(hours=70), now - timedelta(hours=1), nps=9),
    ]
    async with (
        async_playwright() as playwright,
        insights.router.lifespan_context(insights),
        served(insights) as url,
    ):
        await publish(producer, kafka_settings, group, [feedback(s) for s in records])
        await publish(producer, kafka_settings, group, alerts, spec=ALERTS)
        rules, _ = rules_file(tmp_path, "http://127.0.0.1:9")
        async with (
            alerting_app(kafka_settings, rules, Clock(now), insights_url=url) as (app, _),
            served(app) as base,
        ):
            browser = await playwright.chromium.launch(
                executable_path=CHROMIUM, args=["--no-sandbox"], headless=True
            )
            page = await browser.new_page(viewport={"width": 1280, "height": 1000})
            errors: list[str] = []
            page.on("pageerror", lambda error: errors.append(str(error)))
            await sign_in(page, base, "ops-li")
            await page.click('[data-tab="insights"]')

            nps = page.locator('figure[data-metric="nps"]')
            await expect(nps.locator(f'polyline[data-line="{good}"]')).to_have_count(1, timeout=WAIT_MS)
            await expect(nps.locator(f'polyline[data-line="{bad}"]')).to_have_count(1)
            await expect(nps.locator(".legend")).to_contain_text(f"{bad} -100")
            await expect(page.locator('figure[data-metric="csat"] .legend')).to_contain_text(f"{good} 5.00")
            sla = page.locator("#sla-table tbody tr").first
            await expect(sla).to_contain_text("L1")
            await expect(sla).to_contain_text(re.compile(r"\d+% · \d+"))  # other tests' alerts count too
            await expect(sla).to_contain_text(re.compile(r"\d+% · NPS -?\d+ \(n=\d+\)"))  # its callbacks

            worst = page.locator("#worst-cells tbody tr", has_text=bad).first
            await expect(worst).to_contain_text("-100")
            await expect(worst).to_contain_text("Phone")
            await worst.locator("button").click()
            listed = page.locator("#records-list li")
            await expect(listed.first).to_contain_text("退款拖了")
            assert await listed.count() == 20  # the first page of this week's records of the cell
            await expect(page.locator("#cell-records")).to_contain_text(bad)
            await page.screenshot(path=str(shots / "insights.png"), full_page=True)

            await page.select_option("#lang", "zh")
            await expect(page.locator('[data-tab="insights"]')).to_have_text("洞察")
            await expect(nps.locator("figcaption")).to_have_text("NPS")
            await expect(page.locator("#view-insights h3").first).to_have_text("各业务线趋势（量最大的六条）")
            await page.screenshot(path=str(shots / "insights-zh.png"), full_page=True)
            assert errors == []
            await browser.close()
