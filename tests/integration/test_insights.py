"""Insights on the real broker and database: KPI formulas on known input (duplicates, late and re-scored
records), business-day boundaries, the /v1/kpis contract, SLA metrics from alert transitions, drill-down
paging, member tiers and recurrence."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest
from pydantic import BaseModel
from sqlalchemy import text

from services.insights.app import create_app
from services.insights.cells import ALERTS as ALERTS_FACTS
from services.insights.cells import FEEDBACK, Facts
from services.insights.config import InsightsSettings
from services.insights.rebuild import rebuild
from shared.contracts.alerts import AlertChanged, CallbackChanged
from shared.contracts.envelope import Envelope
from shared.contracts.feedback import FeedbackScored
from shared.contracts.loyalty import TierChanged
from shared.contracts.registry import ALERTS, FEEDBACK_SCORED, LOYALTY_CHANGES
from shared.kafka.producer import EventProducer
from shared.settings import KafkaSettings
from tests.alerting_data import scored
from tests.conftest import spec_topic
from tests.support.kafka import wait_caught_up

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("topics")]
KEY = {"X-API-Key": "dev-operator-key"}
# 10:00 in Shanghai on a Friday; the business day is 2026-12-04.
FRIDAY = datetime(2026, 12, 4, 2, 0, tzinfo=UTC)


@pytest.fixture
async def insights(kafka_settings: KafkaSettings, database) -> AsyncIterator[tuple[httpx.AsyncClient, str]]:
    group = f"insights-{uuid.uuid4().hex[:8]}"
    app = create_app(InsightsSettings(kafka=kafka_settings, consumer_group=group))
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://insights") as http,
    ):
        yield http, group


def line() -> str:
    """A business line of this test's own: the tables are shared, a line's cells are not."""
    return f"line-{uuid.uuid4().hex[:8]}"


def envelope(kind: str, key: str, payload: BaseModel, at: datetime) -> Envelope[BaseModel]:
    envelope_of: Any = Envelope[type(payload)]  # type: ignore[misc]
    built: Envelope[BaseModel] = envelope_of(
        type=kind, occurred_at=at, source="tests", key=key, payload=payload
    )
    return built


async def publish(
    producer: EventProducer,
    settings: KafkaSettings,
    group: str,
    items: list[Envelope[BaseModel]],
    spec=FEEDBACK_SCORED,
) -> None:
    await producer.publish_many(spec_topic(spec, settings), items)
    await wait_caught_up(
        settings.bootstrap_servers,
        group,
        [spec_topic(s, settings) for s in (FEEDBACK_SCORED, ALERTS, LOYALTY_CHANGES)],
    )


def feedback(s: FeedbackScored) -> Envelope[BaseModel]:
    return envelope("feedback.scored", s.customer_id, s, s.occurred_at)


async def assert_cells_match_a_recount(database, facts: Facts, bl: str) -> None:
    """The rollup kept by deltas holds what counting the stored facts afresh gives, cell for cell."""
    async with database.connection() as conn:
        fresh = await conn.execute(facts.recount("f.business_line = :bl"), {"sign": 1, "bl": bl})
        recount = {tuple(r[:4]): tuple(r[4:]) for r in fresh if r[0].startswith("business_line")}
        kept = await conn.execute(
            text(f"SELECT * FROM {facts.cells.fullname} WHERE dims LIKE 'business_line%' AND v1 = :bl"),
            {"bl": bl},
        )
        stored = {tuple(r[:4]): tuple(r[4:]) for r in kept if any(r[4:])}
    assert recount
    assert stored == recount


async def kpis(http: httpx.AsyncClient, **params: Any) -> dict[str, Any]:
    response = await http.get("/v1/kpis", params=params, headers=KEY)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_nps_csat_ces_and_shares_on_known_input_count_each_record_once(
    insights, producer, kafka_settings
):
    http, group = insights
    bl = line()
    answers = [
        (10, 5, 2),
        (9, 4, 1),
        (9, 5, 3),
        (8, 3, 4),
        (7, 4, 2),
        (6, 2, 6),
        (3, 1, 7),
        (10, 5, 1),
        (0, 1, 7),
        (9, 4, 2),
    ]
    records = [
        scored(FRIDAY, "negative" if nps <= 6 else "positive", nps=nps, csat=csat, ces=ces, business_line=bl)
        for nps, csat, ces in answers
    ]
    sent = [feedback(s) for s in records]
    # The same event delivered twice, and the same feedback published again under a new event id.
    again = envelope("feedback.scored", records[0].customer_id, records[0], FRIDAY)
    await publish(producer, kafka_settings, group, [*sent, sent[3], again])
    day = "2026-12-04"
    common = {"group_by": "business_line", "interval": "day", "from": day, "to": day, "business_line": bl}
    expected = {
        "nps": (100 * (5 - 3) / 10, 10),  # promoters 10,9,9,10,9; detractors 6,3,0
        "csat": (34 / 10, 10),
        "csat_satisfied": (60.0, 10),  # 5,4,5,4,5,4 of 10
        "ces": (35 / 10, 10),
        "negative_share": (30.0, 10),
        "volume": (10.0, 10),
    }
    for metric, (value, n) in expected.items():
        body = await kpis(http, metric=metric, **common)
        assert body == {
            "metric": metric,
            "interval": "day",
            "series": [{"group": {"business_line": bl}, "points": [{"start": day, "value": value, "n": n}]}],
        }, metric


async def test_late_and_rescored_records_update_the_cells_they_belong_to(
    insights, producer, kafka_settings, database
):
    http, group = insights
    bl = line()
    today = [scored(FRIDAY, "positive", nps=10, business_line=bl) for _ in range(3)]
    await publish(producer, kafka_settings, group, [feedback(s) for s in today])
    late = scored(FRIDAY - timedelta(days=1), "negative", nps=2, business_line=bl)
    rescored = today[0].model_copy(update={"label": "negative", "flags": ["rescored"]})
    # The original verdict redelivered after its re-score must not win back.
    await publish(producer, kafka_settings, group, [feedback(late), feedback(rescored), feedback(today[0])])
    common = {"business_line": bl, "from": "2026-12-03", "to": "2026-12-04"}
    nps = await kpis(http, metric="nps", **common)
    assert nps["series"][0]["points"] == [
        {"start": "2026-12-03", "value": -100.0, "n": 1},
        {"start": "2026-12-04", "value": 100.0, "n": 3},
    ]
    negative = await kpis(http, metric="negative_share", **common)
    assert [p["value"] for p in negative["series"][0]["points"]] == [100.0, pytest.approx(100 / 3, abs=1e-3)]
    await assert_cells_match_a_recount(database, FEEDBACK, bl)


async def test_days_and_weeks_are_the_business_time_zones(insights, producer, kafka_settings):
    http, group = insights
    bl = line()
    # 15:59 UTC is 23:59 in Shanghai on the 4th; 16:00 UTC is midnight of the 5th (a Saturday).
    before = scored(datetime(2026, 12, 4, 15, 59, tzinfo=UTC), "positive", business_line=bl)
    after = scored(datetime(2026, 12, 4, 16, 0, tzinfo=UTC), "positive", business_line=bl)
    monday = scored(datetime(2026, 12, 6, 16, 30, tzinfo=UTC), "negative", business_line=bl)
    await publish(producer, kafka_settings, group, [feedback(s) for s in (before, after, monday)])
    days = await kpis(http, metric="volume", business_line=bl, **{"from": "2026-12-01", "to": "2026-12-10"})
    assert [(p["start"], p["n"]) for p in days["series"][0]["points"]] == [
        ("2026-12-04", 1),
        ("2026-12-05", 1),
        ("2026-12-07", 1),
    ]
    weeks = await kpis(
        http,
        metric="negative_share",
        interval="week",
        compare="previous",
        business_line=bl,
        **{"from": "2026-12-01", "to": "2026-12-10"},
    )
    assert weeks["series"][0]["points"] == [
        {"start": "2026-11-30", "value": 0.0, "n": 2},
        {
            "start": "2026-12-07",
            "value": 100.0,
            "n": 1,
            "previous": {"start": "2026-11-30", "value": 0.0, "n": 2},
            "change": 100.0,
        },
    ]


async def test_grouping_by_two_dimensions_and_deeper_combinations_agree(insights, producer, kafka_settings):
    http, group = insights
    bl = line()
    rows = [("web", "east", 10), ("web", "east", 0), ("app", "east", 9), ("web", "north", 5)]
    records = [scored(FRIDAY, "neutral", channel=c, region=r, nps=n, business_line=bl) for c, r, n in rows]
    await publish(producer, kafka_settings, group, [feedback(s) for s in records])
    day = {"from": "2026-12-04", "to": "2026-12-04"}
    two = await kpis(http, metric="nps", group_by="channel", business_line=bl, **day)
    assert {s["group"]["channel"]: s["points"][0]["value"] for s in two["series"]} == {
        "app": 100.0,
        "web": -33.3333,
    }
    three = await kpis(http, metric="nps", group_by="channel,region", business_line=bl, **day)
    found = {
        (s["group"]["channel"], s["group"]["region"]): (s["points"][0]["value"], s["points"][0]["n"])
        for s in three["series"]
    }
    assert found == {("web", "east"): (0.0, 2), ("app", "east"): (100.0, 1), ("web", "north"): (-100.0, 1)}


def alert(
    kind: str, alert_id: uuid.UUID, at: datetime, level: str, bl: str, feedback_ids: list[uuid.UUID]
) -> Envelope[BaseModel]:
    payload = AlertChanged(
        alert_id=alert_id,
        rule_id="r",
        group_key={"business_line": bl},
        level=level,
        status={"alert.fired": "open", "alert.acknowledged": "acknowledged", "alert.resolved": "resolved"}[
            kind
        ],
        count=1,
        summary="1-star complaint",
        feedback_ids=feedback_ids,
        at=at,
    )
    return envelope(kind, str(alert_id), payload, at)


async def test_response_and_resolution_times_count_against_the_level_they_fired_at(
    insights, producer, kafka_settings, database
):
    http, group = insights
    bl = line()
    source = scored(FRIDAY, "negative", business_line=bl, channel="phone", text="太差了")
    await publish(producer, kafka_settings, group, [feedback(source)])
    fast, slow, open_ = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    events = [
        alert("alert.fired", fast, FRIDAY, "L1", bl, [source.feedback_id]),
        alert("alert.fired", slow, FRIDAY, "L1", bl, []),
        alert("alert.fired", open_, FRIDAY, "L3", bl, []),
        alert("alert.acknowledged", fast, FRIDAY + timedelta(minutes=30), "L1", bl, []),
        alert("alert.resolved", fast, FRIDAY + timedelta(hours=3), "L1", bl, []),
        # Never acknowledged: the resolution is its first answer, 30 h after firing (target 2 h).
        alert("alert.resolved", slow, FRIDAY + timedelta(hours=30), "L1", bl, []),
    ]
    await publish(producer, kafka_settings, group, events, spec=ALERTS)
    common = {"business_line": bl, "group_by": "level", "from": "2026-12-04", "to": "2026-12-04"}
    response = await kpis(http, metric="response_time", **common)
    assert response["series"] == [
        {
            "group": {"level": "L1"},
            "points": [{"start": "2026-12-04", "value": (30 + 30 * 60) / 2, "n": 2, "compliance": 50.0}],
        }
    ]
    resolution = await kpis(http, metric="resolution_time", **common)
    assert resolution["series"][0]["points"][0] == {
        "start": "2026-12-04",
        "value": (180 + 1800) / 2,
        "n": 2,
        "compliance": 50.0,
    }
    closure = await kpis(http, metric="closure_rate", **common)
    assert {
        s["group"]["level"]: (s["points"][0]["value"], s["points"][0]["n"]) for s in closure["series"]
    } == {
        "L1": (100.0, 2),
        "L3": (0.0, 1),
    }
    # The alert took its channel from the feedback that fired it, and the feedback links its alert.
    by_channel = await kpis(
        http, metric="closure_rate", business_line=bl, group_by="channel", **{"from": "2026-12-04"}
    )
    assert {s["group"]["channel"] for s in by_channel["series"]} == {"phone", None}
    page = (
        await http.get(
            "/v1/kpis/records",
            params={"metric": "volume", "business_line": bl, "from": "2026-12-04", "to": "2026-12-04"},
            headers=KEY,
        )
    ).json()
    assert page["records"][0]["alert_id"] == str(fast)
    assert page["records"][0]["alert_url"].endswith(str(fast))
    await assert_cells_match_a_recount(database, ALERTS_FACTS, bl)


def callback(
    kind: str, alert_id: uuid.UUID, due: datetime, at: datetime, nps: int | None = None
) -> Envelope[BaseModel]:
    payload = CallbackChanged(
        callback_id=uuid.uuid5(alert_id, "callback"),
        alert_id=alert_id,
        rule_id="r",
        customer_id="C1",
        due_at=due,
        done_at=at if kind == "callback.done" else None,
        nps=nps,
        at=at,
    )
    return envelope(kind, str(alert_id), payload, at)


async def test_callbacks_count_per_case_with_their_timeliness_and_the_nps_they_were_answered_with(
    insights, producer, kafka_settings, database
):
    http, group = insights
    bl = line()
    cases = [uuid.uuid4() for _ in range(4)]
    resolved = FRIDAY + timedelta(hours=2)
    due = resolved + timedelta(hours=72)
    events = [alert("alert.fired", c, FRIDAY, "L1", bl, []) for c in cases]
    events += [alert("alert.resolved", c, resolved, "L1", bl, []) for c in cases]
    events += [callback("callback.scheduled", c, due, resolved) for c in cases]
    events += [
        callback("callback.done", cases[0], due, due - timedelta(hours=1), nps=10),  # on time, promoter
        callback("callback.done", cases[1], due, due - timedelta(hours=5), nps=3),  # on time, detractor
        callback("callback.done", cases[2], due, due + timedelta(hours=20), nps=9),  # late, promoter
        callback("callback.done", cases[2], due, due + timedelta(hours=20), nps=9),  # redelivered: once
        # cases[3]: scheduled, not done yet
    ]
    await publish(producer, kafka_settings, group, events, spec=ALERTS)
    common = {"business_line": bl, "group_by": "level", "from": "2026-12-04", "to": "2026-12-04"}

    async def point(metric: str) -> tuple[float, int]:
        found = (await kpis(http, metric=metric, **common))["series"][0]["points"][0]
        return found["value"], found["n"]

    assert await point("callbacks") == (4.0, 4)
    assert await point("callback_on_time") == (round(200 / 3, 4), 3)
    assert await point("callback_nps") == (round(100 * (2 - 1) / 3, 4), 3)
    page = (
        await http.get(
            "/v1/kpis/records",
            params={"metric": "callback_nps", "business_line": bl, "from": "2026-12-04", "to": "2026-12-04"},
            headers=KEY,
        )
    ).json()
    answered = {r["alert"]["alert_id"]: r["alert"]["callback_nps"] for r in page["records"]}
    assert answered == {str(cases[0]): 10, str(cases[1]): 3, str(cases[2]): 9}
    await assert_cells_match_a_recount(database, ALERTS_FACTS, bl)


async def test_the_drill_down_pages_through_a_cells_records(insights, producer, kafka_settings):
    http, group = insights
    bl = line()
    records = [
        scored(FRIDAY + timedelta(minutes=i), "negative", csat=1, business_line=bl, text=f"第{i}条")
        for i in range(5)
    ]
    unrated = scored(FRIDAY, "negative", business_line=bl)
    await publish(producer, kafka_settings, group, [feedback(s) for s in [*records, unrated]])
    params = {"metric": "csat", "business_line": bl, "from": "2026-12-04", "to": "2026-12-04", "limit": 2}
    seen: list[str] = []
    cursor = None
    for _ in range(5):
        response = await http.get(
            "/v1/kpis/records", params={**params, **({"cursor": cursor} if cursor else {})}, headers=KEY
        )
        assert response.status_code == 200, response.text
        body = response.json()
        seen += [r["text"] for r in body["records"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen == [
        f"第{i}条" for i in reversed(range(5))
    ]  # newest first, each once, the unrated one not at all
    wrong = await http.get("/v1/kpis/records", params={**params, "cursor": "bm90IGEgY3Vyc29y"}, headers=KEY)
    assert wrong.status_code == 422
    assert wrong.json()["detail"][0]["field"] == "query.cursor"


async def test_member_tier_and_recurrence_are_dimensions_of_the_feedback(insights, producer, kafka_settings):
    http, group = insights
    bl = line()
    vip = f"V-{uuid.uuid4().hex[:8]}"
    change = TierChanged(
        customer_id=vip, from_tier="silver", to_tier="gold", qualifying_spend="60000", effective_at=FRIDAY
    )
    await publish(
        producer, kafka_settings, group, [envelope("tier_changed", vip, change, FRIDAY)], spec=LOYALTY_CHANGES
    )
    first = scored(
        FRIDAY - timedelta(days=10), "negative", customer_id=vip, aspects=["delivery"], business_line=bl
    )
    again = scored(FRIDAY, "negative", customer_id=vip, aspects=["delivery"], business_line=bl)
    other = scored(
        FRIDAY, "negative", customer_id=f"O-{uuid.uuid4().hex[:8]}", aspects=["delivery"], business_line=bl
    )
    await publish(producer, kafka_settings, group, [feedback(s) for s in (first, again, other)])
    by_tier = await kpis(
        http, metric="volume", group_by="tier", business_line=bl, **{"from": "2026-12-04", "to": "2026-12-04"}
    )
    assert {s["group"]["tier"]: s["points"][0]["n"] for s in by_tier["series"]} == {"gold": 1, None: 1}
    recurrence = await kpis(
        http,
        metric="recurrence",
        group_by="aspect",
        business_line=bl,
        **{"from": "2026-12-04", "to": "2026-12-04"},
    )
    assert recurrence["series"] == [
        {"group": {"aspect": "delivery"}, "points": [{"start": "2026-12-04", "value": 50.0, "n": 2}]}
    ]


async def test_bad_parameters_are_refused_naming_the_parameter_and_keys_are_required(insights):
    http, _ = insights
    for params, field in (
        ({"metric": "nps", "group_by": "colour"}, "group_by"),
        ({"metric": "nps", "level": "L1"}, "level"),
        ({"metric": "nps", "from": "2026-12-05", "to": "2026-12-01"}, "from"),
        ({"metric": "nps", "from": "2020-01-01", "to": "2026-12-01"}, "from"),
        ({"metric": "happiness"}, "metric"),
        ({"metric": "nps", "interval": "month"}, "interval"),
    ):
        response = await http.get("/v1/kpis", params=params, headers=KEY)
        assert response.status_code == 422, params
        assert response.json()["detail"][0]["field"] == f"query.{field}", params
    assert (await http.get("/v1/kpis", params={"metric": "nps"})).status_code == 401
    assert (await http.get("/v1/kpis/records", params={"metric": "nps"})).status_code == 401


async def test_a_rebuild_recounts_every_cell_in_a_new_time_zone(insights, producer, kafka_settings, database):
    _, group = insights
    bl = line()
    late_evening = scored(datetime(2026, 12, 4, 16, 30, tzinfo=UTC), "negative", nps=0, business_line=bl)
    await publish(producer, kafka_settings, group, [feedback(late_evening)])
    query = text(
        "SELECT day, sum(volume) FROM insights.feedback_cells"
        " WHERE dims = 'business_line' AND v1 = :bl GROUP BY day"
    )
    async with database.engine.connect() as conn:
        transaction = await conn.begin()
        try:
            assert (await conn.execute(query, {"bl": bl})).all() == [(date(2026, 12, 5), 1)]
            await rebuild(conn, "UTC")
            assert (await conn.execute(query, {"bl": bl})).all() == [(date(2026, 12, 4), 1)]
        finally:
            await transaction.rollback()  # the shared database keeps the business's zone
