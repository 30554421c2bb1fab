"""Callbacks (回访) end to end on a virtual clock: scheduled when a customer's case is resolved (sooner for
VIP members), an overdue one opens an alert that escalates, the customer's answer closes it, and a low NPS
opens a review case."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta
from typing import Any

import pytest

from services.alerting.lifecycle.timers import tick
from shared.contracts.registry import ALERTS, LOYALTY_CHANGES
from tests.conftest import spec_topic
from tests.integration.alerting_helpers import Clock, alerting_app, rules_file
from tests.integration.helpers import eventually
from tests.integration.test_alerting import alerts_of, scored_doc, send, tier_doc
from tests.support.kafka import read_to_end

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("topics")]


def at(value: str) -> datetime:
    return datetime.fromisoformat(value)


async def listed(http: Any, customer: str, state: str = "open") -> list[dict[str, Any]]:
    page = await http.get("/v1/callbacks", params={"customer": customer, "state": state})
    assert page.status_code == 200, page.text
    found: list[dict[str, Any]] = page.json()["callbacks"]
    return found


async def alerts_for(http: Any, rule: str, customer: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = (
        await http.get("/v1/alerts", params={"rule": rule, "customer": customer})
    ).json()["alerts"]
    return found


async def assert_published(kafka_settings: Any, callback_id: str, case_id: str, nps: int) -> None:
    """The callback's schedule and answer are on alerts.v1, keyed by its case (insights counts them)."""
    published = await callback_events(kafka_settings, callback_id, 2)
    assert {key for key, _ in published.values()} == {case_id}
    scheduled, done = published["callback.scheduled"][1], published["callback.done"][1]
    assert scheduled["due_at"] == done["due_at"]
    assert (done["nps"], scheduled["nps"]) == (nps, None)


async def callback_events(
    kafka_settings: Any, callback_id: str, expected: int
) -> dict[str, tuple[str, dict[str, Any]]]:
    """The callback's events on alerts.v1 by type: (key, payload), once `expected` of them are there."""
    topic = spec_topic(ALERTS, kafka_settings)
    published: dict[str, tuple[str, dict[str, Any]]] = {}

    async def arrived() -> bool:
        for record in await read_to_end(kafka_settings.bootstrap_servers, topic, at_least=1):
            doc = json.loads(record.value)
            if doc["type"].startswith("callback.") and doc["payload"]["callback_id"] == callback_id:
                published[doc["type"]] = (record.key.decode(), doc["payload"])
        return len(published) >= expected

    await eventually(arrived, what=f"{expected} events of callback {callback_id}")
    return published


async def test_a_resolved_case_gets_a_callback_an_overdue_one_escalates_and_a_low_nps_opens_a_review(
    kafka_settings, producer, tmp_path, receiver
):
    clock = Clock()
    rules, suffix = rules_file(tmp_path, receiver.url)
    rule = f"one-star-feedback-{suffix}"
    plain, vip = f"CB-{uuid.uuid4().hex[:6]}", f"VIP-{uuid.uuid4().hex[:6]}"
    async with alerting_app(kafka_settings, rules, clock) as (app, http):
        state = app.state.alerting_state
        await send(producer, kafka_settings, [tier_doc(vip, "gold")], LOYALTY_CHANGES)
        await eventually(lambda: state.tiers.get(vip) == "gold", what="the gold tier heard")
        await send(
            producer,
            kafka_settings,
            [
                scored_doc(plain, 1, "negative", "retail", clock.now, "发货太慢"),
                scored_doc(vip, 1, "negative", "retail", clock.now, "质量很差"),
            ],
        )
        cases = {a["customer_id"]: a for a in await alerts_of(http, rule, 2)}
        clock.advance(hours=1)
        resolved_at = clock.now
        for case in cases.values():
            done = await http.post(f"/v1/alerts/{case['id']}/resolve", json={"actor": "agent-li"})
            assert done.status_code == 200, done.text

        due = {customer: (await listed(http, customer))[0] for customer in (plain, vip)}
        assert {c["state"] for c in due.values()} == {"due"}
        assert {c["alert_id"] for c in due.values()} == {cases[plain]["id"], cases[vip]["id"]}
        assert at(due[plain]["due_at"]) == resolved_at + timedelta(hours=72)
        assert at(due[vip]["due_at"]) == resolved_at + timedelta(hours=48)
        assert due[vip]["tier"] == "gold"

        # 48 h and a minute on: the VIP's callback is overdue and opens an alert; the other is not due yet.
        clock.advance(hours=48, minutes=1)
        await tick(app.state.runtime, state, clock.now)
        overdue = (await http.get("/v1/callbacks", params={"state": "overdue", "customer": vip})).json()
        assert [c["id"] for c in overdue["callbacks"]] == [due[vip]["id"]]
        assert (await http.get("/v1/callbacks", params={"state": "overdue", "customer": plain})).json()[
            "callbacks"
        ] == []
        (alarm,) = (
            await http.get("/v1/alerts", params={"rule": "callback-overdue", "customer": vip})
        ).json()["alerts"]
        assert alarm["level"] == "L1"
        assert alarm["evidence"][0]["text"] == "质量很差"
        await tick(app.state.runtime, state, clock.now)  # a second tick opens nothing more
        assert (
            len(
                (await http.get("/v1/alerts", params={"rule": "callback-overdue", "customer": vip})).json()[
                    "alerts"
                ]
            )
            == 1
        )
        # unanswered, it escalates like any alert (L1 → L2 after 2 h under the default policy)
        clock.advance(hours=2)
        await tick(app.state.runtime, state, clock.now)
        assert (await http.get(f"/v1/alerts/{alarm['id']}")).json()["level"] == "L2"

        # The VIP answers 6: done, the overdue alert resolved, a review case opened at L2.
        answer = {"actor": "manager-zhao", "nps": 6, "note": "仍不满意 still unhappy"}
        result = await http.post(f"/v1/callbacks/{due[vip]['id']}/result", json=answer)
        assert result.status_code == 200, result.text
        closed = result.json()
        assert closed["state"] == "done"
        assert closed["nps"] == 6
        assert closed["done_by"] == "manager-zhao"
        assert (await http.get(f"/v1/alerts/{alarm['id']}")).json()["status"] == "resolved"
        review = (await http.get(f"/v1/alerts/{closed['review_alert_id']}")).json()
        assert review["rule_id"] == "callback-review"
        assert review["level"] == "L2"
        assert review["status"] == "open"
        assert "NPS 6" in review["summary"]
        again = await http.post(f"/v1/callbacks/{due[vip]['id']}/result", json=answer)
        assert again.status_code == 409

        # The other customer answers 9 before it is due: done, no review.
        happy = await http.post(
            f"/v1/callbacks/{due[plain]['id']}/result", json={"actor": "agent-li", "nps": 9}
        )
        assert happy.json()["review_alert_id"] is None
        assert [c["nps"] for c in await listed(http, plain, "done")] == [9]
        timeline = (await http.get(f"/v1/alerts/{cases[vip]['id']}")).json()["timeline"]
        kinds = [e["kind"] for e in timeline]
        assert kinds.index("resolved") < kinds.index("callback_scheduled") < kinds.index("callback_overdue")
        assert kinds[-1] == "callback_done"
        # resolving the review case schedules no further callback
        await http.post(f"/v1/alerts/{review['id']}/resolve", json={"actor": "manager-zhao"})
        assert await listed(http, vip) == []
        # alerts.v1 carries each callback's schedule and answer, keyed by its case (insights counts them)
        await assert_published(kafka_settings, due[vip]["id"], cases[vip]["id"], 6)
        metrics = (await http.get("/metrics")).text
    for event in ("scheduled", "overdue", "done", "review"):
        assert f'alerting_callbacks_total{{event="{event}"}}' in metrics


async def test_a_callback_result_is_checked_field_by_field_and_an_unknown_callback_is_404(
    kafka_settings, tmp_path, receiver
):
    clock = Clock()
    rules, _ = rules_file(tmp_path, receiver.url)
    async with alerting_app(kafka_settings, rules, clock) as (_, http):
        wrong = await http.post(f"/v1/callbacks/{uuid.uuid4()}/result", json={"actor": "a", "nps": 11})
        assert wrong.status_code == 422
        assert "nps" in wrong.text
        missing = await http.post(f"/v1/callbacks/{uuid.uuid4()}/result", json={"actor": "a", "nps": 3})
        assert missing.status_code == 404
        bad_state = await http.get("/v1/callbacks", params={"state": "later"})
        assert bad_state.status_code == 422
