"""The alerting service over the real broker and database, with a virtual clock for escalation."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import pytest
import yaml
from sqlalchemy import text

from scripts.infra import free_port
from services.alerting.delivery.channels import DELIVERY_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, sign
from services.alerting.delivery.notify import Notifier
from services.alerting.http.acklinks import slack_signature
from services.alerting.lifecycle import timers as timers_module
from services.alerting.lifecycle.escalation import next_handoff, on_call
from services.alerting.lifecycle.timers import tick
from services.alerting.rules import load_rules
from shared.contracts.registry import ALERTS, FEEDBACK_SCORED, LOYALTY_CHANGES
from shared.db.engine import Database
from shared.settings import DatabaseSettings
from tests.conftest import spec_topic
from tests.integration.alerting_helpers import Clock, alerting_app, rules_file
from tests.integration.helpers import eventually, to_bytes
from tests.support.kafka import read_exactly, read_to_end, wait_caught_up

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("topics")]
EXAMPLES = "shared/contracts/examples"


def scored_doc(
    customer: str, stars: int, label: str, line: str, at: datetime, text: str = ""
) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(Path(f"{EXAMPLES}/feedback.scored.v1/feedback.scored.json").read_text())
    doc["event_id"] = str(uuid.uuid4())
    doc["key"] = customer
    doc["payload"].update(
        feedback_id=str(uuid.uuid4()),
        customer_id=customer,
        stars=stars,
        label=label,
        text=text,
        score=-0.9 if label == "negative" else 0.9,
        business_line=line,
        occurred_at=at.isoformat(),
    )
    return doc


def tier_doc(customer: str, tier: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(Path(f"{EXAMPLES}/loyalty.changes.v1/tier_changed.json").read_text())
    doc["event_id"], doc["key"] = str(uuid.uuid4()), customer
    doc["payload"].update(customer_id=customer, to_tier=tier)
    return doc


async def send(producer, settings, docs, spec=FEEDBACK_SCORED):
    await producer.send_raw_many(
        spec_topic(spec, settings), [(d["key"].encode(), to_bytes(d), []) for d in docs]
    )


def webhooks_sent(metrics: str) -> float:
    """alerting_notifications_total for sent webhooks (the registry is the test process's, shared)."""
    prefix = 'alerting_notifications_total{channel="webhook",outcome="sent"} '
    return sum(float(line.removeprefix(prefix)) for line in metrics.splitlines() if line.startswith(prefix))


async def rows_of(query: str, **params: Any) -> list[dict[str, Any]]:
    """The rows a query reads from the shared test database."""
    database = Database(DatabaseSettings(), "tests")
    try:
        async with database.connection() as conn:
            return [dict(row._mapping) for row in await conn.execute(text(query), params)]
    finally:
        await database.dispose()


async def deliveries_of(alert_id: str) -> list[dict[str, Any]]:
    """Every delivery alerting ever scheduled for the alert, whatever its status."""
    query = "SELECT transition, status FROM alerting.deliveries WHERE alert_id = :id ORDER BY id"
    return await rows_of(query, id=alert_id)


async def alerts_of(http, rule: str, expected: int) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []

    async def enough() -> bool:
        nonlocal found
        found = (await http.get("/v1/alerts", params={"rule": rule})).json()["alerts"]
        return len(found) >= expected

    try:
        await eventually(enough, 20, f"{expected} alerts of {rule}")
    except AssertionError as exc:
        raise AssertionError(f"{exc}; found {len(found)}") from None
    return found


async def test_one_star_pages_l1_by_signed_webhook_and_a_gold_member_starts_at_l2(
    kafka_settings, producer, tmp_path, receiver
):
    clock = Clock()
    rules, suffix = rules_file(tmp_path, receiver.url)
    rule = f"one-star-feedback-{suffix}"
    async with alerting_app(kafka_settings, rules, clock) as (app, http):
        sent_before = webhooks_sent((await http.get("/metrics")).text)
        await send(producer, kafka_settings, [tier_doc("VIP-1", "gold")], LOYALTY_CHANGES)
        await eventually(lambda: _state(app).tiers.get("VIP-1") == "gold", what="the gold tier known")
        sent = [
            scored_doc("C-1", 1, "negative", "retail", clock.now),
            scored_doc("VIP-1", 1, "negative", "retail", clock.now),
        ]
        await send(producer, kafka_settings, sent)
        found = {a["customer_id"]: a for a in await alerts_of(http, rule, 2)}
        assert found["C-1"]["level"] == "L1"
        assert found["VIP-1"]["level"] == "L2"
        # Evidence says which model gave the verdict and where the scored event sits in Kafka.
        model = sent[0]["payload"]["model"]
        [evidence] = found["C-1"]["evidence"]
        assert evidence["feedback_id"] == sent[0]["payload"]["feedback_id"]
        assert evidence["model"] == f"{model['id']}@{model['version']}"
        topic, partition, offset = evidence["offset"].rsplit("/", 2)
        assert topic == spec_topic(FEEDBACK_SCORED, kafka_settings)
        assert int(partition) >= 0
        assert int(offset) >= 0
        await eventually(lambda: len(receiver.requests) >= 2, what="two webhook deliveries")
        events = await read_exactly(kafka_settings.bootstrap_servers, spec_topic(ALERTS, kafka_settings), 2)
        metrics = ""

        async def delivered_counted() -> bool:
            nonlocal metrics
            metrics = (await http.get("/metrics")).text
            return webhooks_sent(metrics) >= sent_before + 2

        await eventually(delivered_counted, what="both webhook deliveries counted")
    assert f'alerting_alerts_fired_total{{level="L1",rule="{rule}"}} 1.0' in metrics
    assert 'alerting_notifications_total{channel="webhook",outcome="sent"}' in metrics
    request = receiver.requests[0]
    expected = sign("dev-webhook-secret", request["headers"][TIMESTAMP_HEADER], request["body"])
    assert request["headers"][SIGNATURE_HEADER] == expected
    ids = [json.loads(r["body"])["delivery_id"] for r in receiver.requests]
    assert [r["headers"][DELIVERY_HEADER] for r in receiver.requests] == ids
    assert len(set(ids)) == len(ids), "each delivery carries its own id, signed in the body"
    assert {p["alert"]["level"] for p in receiver.payloads()} == {"L1", "L2"}
    assert [json.loads(r.value)["type"] for r in events] == ["alert.fired", "alert.fired"]


async def test_redelivered_feedback_neither_counts_twice_nor_pages_twice(
    kafka_settings, producer, tmp_path, receiver
):
    clock = Clock()
    rules, suffix = rules_file(tmp_path, receiver.url)
    doc = scored_doc("C-2", 1, "negative", "retail", clock.now)
    group = f"alerting-{uuid.uuid4().hex[:8]}"
    async with alerting_app(kafka_settings, rules, clock, consumer_group=group) as (_, http):
        await send(producer, kafka_settings, [doc, doc])
        (alert,) = await alerts_of(http, f"one-star-feedback-{suffix}", 1)
        await send(producer, kafka_settings, [doc])
        scored = spec_topic(FEEDBACK_SCORED, kafka_settings)
        await wait_caught_up(kafka_settings.bootstrap_servers, group, [scored])
        await eventually(lambda: len(receiver.requests) >= 1, what="a delivery")
        again = (await http.get(f"/v1/alerts/{alert['id']}")).json()
        scheduled = await deliveries_of(alert["id"])
    assert again["count"] == 1
    assert [d["transition"] for d in scheduled] == ["fired"]
    assert len(receiver.requests) == 1


async def test_escalation_ack_reminder_and_resolve_on_a_virtual_clock_across_a_restart(
    kafka_settings, producer, tmp_path, receiver
):
    clock = Clock()
    rules, suffix = rules_file(tmp_path, receiver.url, resolution_targets=False)  # timeouts alone
    rule = f"one-star-feedback-{suffix}"
    async with alerting_app(kafka_settings, rules, clock) as (app, http):
        await send(producer, kafka_settings, [scored_doc("C-3", 1, "negative", "retail", clock.now)])
        (alert,) = await alerts_of(http, rule, 1)
        runtime = app.state.runtime
        clock.advance(hours=1, minutes=59)
        await tick(runtime, _state(app), clock.now)
        assert (await http.get(f"/v1/alerts/{alert['id']}")).json()["level"] == "L1"
        clock.advance(minutes=1)
        await tick(runtime, _state(app), clock.now)
        assert (await http.get(f"/v1/alerts/{alert['id']}")).json()["level"] == "L2"
    # a restart: a new app over the same database carries on from the stored timers
    async with alerting_app(kafka_settings, rules, clock) as (app, http):
        clock.advance(hours=1)
        acked = await http.post(
            f"/v1/alerts/{alert['id']}/ack", json={"actor": "manager-zhao", "note": "calling the customer"}
        )
        assert acked.json()["status"] == "acknowledged"
        clock.advance(hours=24)
        await tick(app.state.runtime, _state(app), clock.now)
        body = (await http.get(f"/v1/alerts/{alert['id']}")).json()
        assert body["level"] == "L2"  # ack stopped escalation (24 h at L2 would have gone to L3)
        resolved = await http.post(
            f"/v1/alerts/{alert['id']}/resolve", json={"actor": "manager-zhao", "note": "refunded"}
        )
        assert resolved.json()["status"] == "resolved"
        body = (await http.get(f"/v1/alerts/{alert['id']}")).json()
    kinds = [e["kind"] for e in body["timeline"]]
    assert kinds[0] == "fired"
    assert kinds.count("escalated") == 1
    assert {"acknowledged", "reminded", "resolved"} <= set(kinds)
    assert next(e for e in body["timeline"] if e["kind"] == "acknowledged")["actor"] == "manager-zhao"


async def test_windowed_rule_state_survives_a_restart_and_fires_once(
    kafka_settings, producer, tmp_path, receiver
):
    clock = Clock()
    rules, suffix = rules_file(tmp_path, receiver.url)
    rule = f"negative-share-by-business-line-{suffix}"
    line = f"line-{suffix}"
    at = datetime.now(UTC)
    group = f"alerting-{uuid.uuid4().hex[:8]}"
    async with alerting_app(kafka_settings, rules, clock, consumer_group=group) as (_, http):
        await send(producer, kafka_settings, [scored_doc("C", 2, "negative", line, at) for _ in range(15)])
        scored = spec_topic(FEEDBACK_SCORED, kafka_settings)
        await wait_caught_up(kafka_settings.bootstrap_servers, group, [scored])
        assert (await http.get("/v1/alerts", params={"rule": rule})).json()["alerts"] == []
    async with alerting_app(kafka_settings, rules, clock) as (_, http):
        await send(
            producer,
            kafka_settings,
            [scored_doc("C", 2, "negative", line, at + timedelta(minutes=1)) for _ in range(6)],
        )
        (alert,) = await alerts_of(http, rule, 1)
    assert alert["group_key"] == {"business_line": line}
    assert alert["level"] == "L2"


async def test_stored_window_cells_past_every_window_are_pruned_but_a_groups_first_cell_stays(
    kafka_settings, producer, tmp_path, receiver
):
    clock = Clock()
    rules, suffix = rules_file(tmp_path, receiver.url)
    rule = f"negative-share-by-business-line-{suffix}"
    line = f"line-{suffix}"
    bucket_s = 3600 / 12  # the rule's 1 h window in 12 buckets
    now = datetime.now(UTC)
    times = [now - timedelta(hours=3), now - timedelta(hours=2), now]
    group = f"alerting-{uuid.uuid4().hex[:8]}"
    scored = spec_topic(FEEDBACK_SCORED, kafka_settings)
    query = "SELECT bucket FROM alerting.window_cells WHERE rule_id = :rule ORDER BY bucket"

    async def stored() -> list[int]:
        return [row["bucket"] for row in await rows_of(query, rule=rule)]

    async with alerting_app(kafka_settings, rules, clock, consumer_group=group):
        for at in times:
            await send(producer, kafka_settings, [scored_doc("C", 2, "negative", line, at)])
            await wait_caught_up(kafka_settings.bootstrap_servers, group, [scored])
        first, _, last = (int(at.timestamp() // bucket_s) for at in times)
        # The 2 h old cell lies beyond the ring (1 h window + 10 min lateness); the 3 h old one is the
        # group's first and dates its history.
        await eventually(lambda: _equals(stored, [first, last]), 20, "pruned window cells")


async def _equals(read, expected: list[int]) -> bool:
    return bool(await read() == expected)


async def silence(http, clock: Clock, rule: str, hours: float) -> str:
    created = await http.post(
        "/v1/silences",
        json={
            "matchers": [{"name": "rule", "value": rule}],
            "ends_at": (clock.now + timedelta(hours=hours)).isoformat(),
            "created_by": "ops",
            "comment": "maintenance",
        },
    )
    assert created.status_code == 201
    return str(created.json()["id"])


async def pages_of(alert_id: str) -> list[tuple[str, str]]:
    """(transition, level) of every notification scheduled for the alert."""
    query = (
        "SELECT transition, payload->'alert'->>'level' AS level FROM alerting.deliveries"
        " WHERE alert_id = :id ORDER BY id"
    )
    return [(row["transition"], row["level"]) for row in await rows_of(query, id=alert_id)]


async def test_a_silence_holds_pages_while_active_escalation_runs_on_and_its_end_pages_the_current_level(
    kafka_settings, producer, tmp_path, receiver
):
    clock = Clock()
    rules, suffix = rules_file(tmp_path, receiver.url)
    rule = f"one-star-feedback-{suffix}"
    async with alerting_app(kafka_settings, rules, clock) as (app, http):
        await silence(http, clock, rule, hours=3)
        await send(producer, kafka_settings, [scored_doc("C-4", 1, "negative", "retail", clock.now)])
        (alert,) = await alerts_of(http, rule, 1)
        assert alert["silenced"] is True
        # The alert and its deliveries are written in one transaction: none was scheduled.
        assert await pages_of(alert["id"]) == []
        clock.advance(hours=2, minutes=1)
        await tick(app.state.runtime, _state(app), clock.now)
        assert (await http.get(f"/v1/alerts/{alert['id']}")).json()["level"] == "L2"
        assert await pages_of(alert["id"]) == [], "escalated under the silence: held"
        clock.advance(hours=1)  # the silence has ended
        await tick(app.state.runtime, _state(app), clock.now)
        body = (await http.get(f"/v1/alerts/{alert['id']}")).json()

        # Only this alert's: releasing also pages alerts that earlier tests left held (same database).
        def mine() -> list[dict[str, Any]]:
            return [p for p in receiver.payloads() if p["alert"]["alert_id"] == alert["id"]]

        await eventually(lambda: len(mine()) >= 1, what="the released page")
    assert await pages_of(alert["id"]) == [("unsilenced", "L2")]
    assert body["silenced"] is False
    held = [e for e in body["timeline"] if e["kind"] == "notification_held"]
    assert [e["detail"]["transition"] for e in held] == ["fired", "escalated"]
    assert [e["kind"] for e in body["timeline"]][-1] == "silence_ended"
    (page,) = mine()
    assert (page["transition"], page["alert"]["level"]) == ("unsilenced", "L2")


async def test_a_silence_created_after_an_alert_opened_holds_its_escalation_until_deleted(
    kafka_settings, producer, tmp_path, receiver
):
    clock = Clock()
    rules, suffix = rules_file(tmp_path, receiver.url)
    rule = f"one-star-feedback-{suffix}"
    async with alerting_app(kafka_settings, rules, clock) as (app, http):
        await send(producer, kafka_settings, [scored_doc("C-6", 1, "negative", "retail", clock.now)])
        (alert,) = await alerts_of(http, rule, 1)
        assert await pages_of(alert["id"]) == [("fired", "L1")]
        silence_id = await silence(http, clock, rule, hours=48)
        clock.advance(hours=2, minutes=1)
        await tick(app.state.runtime, _state(app), clock.now)
        assert await pages_of(alert["id"]) == [("fired", "L1")], "the escalation to L2 is held"
        deleted = await http.delete(f"/v1/silences/{silence_id}", params={"actor": "ops"})
        assert deleted.status_code == 200
        await tick(app.state.runtime, _state(app), clock.now)
        await tick(app.state.runtime, _state(app), clock.now)  # a second tick releases nothing more
    assert await pages_of(alert["id"]) == [("fired", "L1"), ("unsilenced", "L2")]


async def test_webhook_to_a_private_address_is_refused_and_logged(
    kafka_settings, producer, tmp_path, receiver
):
    clock = Clock()
    rules, suffix = rules_file(tmp_path, receiver.url)
    async with alerting_app(kafka_settings, rules, clock, webhook_allow=[]) as (_, http):
        await send(producer, kafka_settings, [scored_doc("C-5", 1, "negative", "retail", clock.now)])
        (alert,) = await alerts_of(http, f"one-star-feedback-{suffix}", 1)
        body: dict[str, Any] = {}

        async def attempted() -> bool:
            nonlocal body
            body = (await http.get(f"/v1/alerts/{alert['id']}")).json()
            return bool(body["deliveries"] and body["deliveries"][0]["attempts"])

        await eventually(attempted, 5, "the delivery attempted")
    assert "refused 127.0.0.1" in body["deliveries"][0]["last_error"]
    assert receiver.requests == []


async def delivery_of(http, alert_id: str, attempts: int) -> dict[str, Any]:
    """The alert's one delivery once it has been attempted `attempts` times and the outcome stored."""
    delivery: dict[str, Any] = {}

    async def attempted() -> bool:
        nonlocal delivery
        body = (await http.get(f"/v1/alerts/{alert_id}")).json()
        delivery = body["deliveries"][0] if body["deliveries"] else {}
        return bool(delivery.get("attempts", 0) >= attempts)

    try:
        await eventually(attempted, 10, f"delivery attempted {attempts} times")
    except AssertionError as exc:
        raise AssertionError(f"{exc}; last seen: {delivery}") from None
    return delivery


@pytest.mark.parametrize(
    ("failure", "error"),
    [("5xx", "HTTP 503"), ("timeout", "Timeout"), ("refused", "ClientConnectorError")],
)
async def test_a_failing_receiver_is_retried_with_backoff_until_max_attempts_then_failed(
    kafka_settings, producer, tmp_path, receiver, failure, error
):
    """Sent only when the receiver accepts: a 503, a receiver that does not answer in time and a closed
    port each count as a failed attempt, retried after 5 s, then 10 s, and failed after the last."""
    clock = Clock()
    receiver.status, receiver.delay_s = (503, 0.0) if failure == "5xx" else (200, 1.5)
    url = f"http://127.0.0.1:{free_port()}" if failure == "refused" else receiver.url
    rules, suffix = rules_file(tmp_path, url)
    options = {"max_attempts": 3, "notify_timeout_s": 0.5}
    async with alerting_app(kafka_settings, rules, clock, **options) as (_, http):
        await send(producer, kafka_settings, [scored_doc("C-R", 1, "negative", "retail", clock.now)])
        (alert,) = await alerts_of(http, f"one-star-feedback-{suffix}", 1)
        first = await delivery_of(http, alert["id"], 1)
        assert (first["status"], first["sent_at"]) == ("pending", None)
        assert error in first["last_error"]
        clock.advance(seconds=6)  # past the first backoff (5 s)
        second = await delivery_of(http, alert["id"], 2)
        assert second["status"] == "pending"
        clock.advance(seconds=11)  # past the second (10 s)
        third = await delivery_of(http, alert["id"], 3)
        timeline = (await http.get(f"/v1/alerts/{alert['id']}")).json()["timeline"]
    assert third["status"] == "failed"
    assert error in third["last_error"]
    assert [e["kind"] for e in timeline if e["kind"].startswith("notification")] == ["notification_failed"]
    expected_requests = 0 if failure == "refused" else 3
    assert len(receiver.requests) == expected_requests


async def test_a_receiver_that_recovers_gets_the_page_on_the_next_attempt(
    kafka_settings, producer, tmp_path, receiver
):
    clock = Clock()
    receiver.status = 502
    rules, suffix = rules_file(tmp_path, receiver.url)
    async with alerting_app(kafka_settings, rules, clock) as (_, http):
        await send(producer, kafka_settings, [scored_doc("C-S", 1, "negative", "retail", clock.now)])
        (alert,) = await alerts_of(http, f"one-star-feedback-{suffix}", 1)
        assert "HTTP 502" in (await delivery_of(http, alert["id"], 1))["last_error"]
        receiver.status = 200
        clock.advance(seconds=6)
        delivery = await delivery_of(http, alert["id"], 2)
    assert (delivery["status"], delivery["last_error"]) == ("sent", None)
    assert delivery["sent_at"] is not None
    bodies = [json.loads(r["body"]) for r in receiver.requests]
    assert len({b["delivery_id"] for b in bodies}) == 1, "a retry carries the same delivery id"


async def test_rules_can_be_validated_without_loading_and_alerts_page_with_a_cursor(
    kafka_settings, producer, tmp_path, receiver
):
    clock = Clock()
    rules, suffix = rules_file(tmp_path, receiver.url)
    rule = f"one-star-feedback-{suffix}"
    async with alerting_app(kafka_settings, rules, clock) as (_, http):
        bad = await http.post(
            "/v1/rules/validate",
            content="rules: []\npolicies: {default: {steps: []}}\n",
            headers={"Content-Type": "application/yaml"},
        )
        assert bad.json()["valid"] is False
        assert any("policies.default.steps" in e for e in bad.json()["errors"])
        good = await http.post(
            "/v1/rules/validate", content=rules.read_text(), headers={"Content-Type": "application/yaml"}
        )
        assert good.json()["valid"] is True
        await send(
            producer,
            kafka_settings,
            [scored_doc(f"C-{i}", 1, "negative", "retail", clock.now) for i in range(5)],
        )
        await alerts_of(http, rule, 5)
        first = (await http.get("/v1/alerts", params={"rule": rule, "limit": 3})).json()
        second = (
            await http.get("/v1/alerts", params={"rule": rule, "limit": 3, "cursor": first["next_cursor"]})
        ).json()
        assert len(first["alerts"]) == 3
        assert len(second["alerts"]) == 2
        assert second["next_cursor"] is None
        assert not {a["id"] for a in first["alerts"]} & {a["id"] for a in second["alerts"]}
        assert (await http.get("/v1/alerts", headers={"X-API-Key": "wrong"})).status_code == 401


def _state(app):
    return app.state.alerting_state


async def test_windowed_alert_auto_resolves_after_the_condition_stays_clear(
    kafka_settings, producer, tmp_path, receiver
):
    clock = Clock()
    rules, suffix = rules_file(tmp_path, receiver.url)
    rule = f"negative-share-by-business-line-{suffix}"
    line = f"line-{suffix}"
    at = datetime.now(UTC)
    async with alerting_app(kafka_settings, rules, clock) as (app, http):
        await send(producer, kafka_settings, [scored_doc("C", 2, "negative", line, at) for _ in range(20)])
        (alert,) = await alerts_of(http, rule, 1)
        later = at + timedelta(hours=2)  # the 1 h window has moved past the negatives
        await send(producer, kafka_settings, [scored_doc("C", 5, "positive", line, later) for _ in range(20)])
        body: dict[str, Any] = {}

        async def resolved() -> bool:
            nonlocal body
            await tick(app.state.runtime, _state(app), clock.now + timedelta(hours=2, minutes=1))
            body = (await http.get(f"/v1/alerts/{alert['id']}")).json()
            return bool(body["status"] == "resolved")

        await eventually(resolved, 10, "the alert auto-resolved")
    assert body["status"] == "resolved"
    assert body["timeline"][-1]["actor"] == "auto-resolve"


async def test_alertmanager_holds_an_escalation_until_its_next_transition_and_hears_ack_and_resolve(
    kafka_settings, producer, tmp_path, receiver
):
    """Alertmanager drops an alert nobody re-sends within 5 minutes unless it has an endsAt: each one it
    is sent ends when the alert's next transition is due (plus grace); an ack and a resolve, which page
    nobody else, reach it, so an acknowledged alert holds until its reminder and a resolved one ends."""
    clock = Clock()
    rules, suffix = rules_file(tmp_path, receiver.url)
    doc = yaml.safe_load(rules.read_text())
    for policy in doc["policies"].values():
        for step in policy["steps"]:
            for target in step["targets"]:
                target["channels"] = ["webhook", "alertmanager"]
    rules.write_text(yaml.safe_dump(doc, allow_unicode=True))
    async with alerting_app(kafka_settings, rules, clock, alertmanager_url=receiver.url) as (app, http):
        await send(producer, kafka_settings, [scored_doc("C-9", 1, "negative", "retail", clock.now)])
        (alert,) = await alerts_of(http, f"one-star-feedback-{suffix}", 1)
        fired_at = clock.now
        clock.advance(hours=2)
        await tick(app.state.runtime, _state(app), clock.now)
        clock.advance(minutes=5)
        acked = await http.post(f"/v1/alerts/{alert['id']}/ack", json={"actor": "manager-zhao"})
        assert acked.json()["status"] == "acknowledged"
        acked_at = clock.now
        clock.advance(minutes=5)
        resolved = await http.post(f"/v1/alerts/{alert['id']}/resolve", json={"actor": "manager-zhao"})
        assert resolved.json()["status"] == "resolved"
        await eventually(lambda: len(receiver.requests) >= 6, what="fired x2, escalated x2, ack, resolve")

        async def none_pending() -> bool:
            query = "SELECT id FROM alerting.deliveries WHERE alert_id = :a AND status = 'pending'"
            return not await rows_of(query, a=alert["id"])

        await eventually(none_pending, what="every page of the alert delivered")
    # The tick applies every due timer in the shared database: an earlier test's alert left open at the
    # same virtual time escalates too, and its pages reach this receiver. Only this alert's pages count.
    sent = [(r["path"], json.loads(r["body"])) for r in receiver.requests]
    webhook = [
        body["transition"]
        for path, body in sent
        if path != "/api/v2/alerts" and body["alert"]["alert_id"] == alert["id"]
    ]
    alertmanager = {
        (one["annotations"]["transition"], one["labels"]["level"]): one
        for path, body in sent
        if path == "/api/v2/alerts"
        for one in body
        if one["labels"]["alert_id"] == alert["id"]
    }
    assert webhook == ["fired", "escalated"], "no webhook page for an ack or a resolve"
    assert set(alertmanager) == {
        ("fired", "L1"),
        ("escalated", "L2"),
        ("acknowledged", "L2"),
        ("resolved", "L2"),
    }
    grace = timedelta(minutes=15)
    ends = {key: datetime.fromisoformat(one["endsAt"]) for key, one in alertmanager.items()}
    assert ends[("fired", "L1")] == fired_at + timedelta(hours=2) + grace  # L1 escalates after 2 h
    assert ends[("escalated", "L2")] == fired_at + timedelta(hours=2 + 24) + grace  # L2 after 24 h more
    assert ends[("acknowledged", "L2")] == acked_at + timedelta(hours=24) + grace  # its first reminder
    assert ends[("resolved", "L2")] == clock.now


async def test_a_page_acknowledges_its_alert_once_from_its_signed_link_without_a_key(
    kafka_settings, producer, tmp_path, receiver
):
    clock = Clock()
    rules, suffix = rules_file(tmp_path, receiver.url)
    rule = f"one-star-feedback-{suffix}"
    async with alerting_app(kafka_settings, rules, clock, ack_link_ttl_s=3600) as (_, http):
        await send(producer, kafka_settings, [scored_doc("C-A", 1, "negative", "retail", clock.now)])
        (alert,) = await alerts_of(http, rule, 1)
        await eventually(lambda: len(receiver.requests) >= 1, what="the page")
        (page,) = [p for p in receiver.payloads() if p["alert"]["alert_id"] == alert["id"]]
        path = urlsplit(page["ack_url"]).path
        anonymous = {"X-API-Key": ""}
        shown = await http.get(path, headers=anonymous)
        assert shown.status_code == 200
        assert "确认 Acknowledge" in shown.text
        assert page["target"] in shown.text
        assert shown.headers["referrer-policy"] == "no-referrer"
        opened = (await http.get(f"/v1/alerts/{alert['id']}")).json()
        assert opened["status"] == "open", "opening the link changes nothing (mail clients preview links)"
        acked = await http.post(path, headers=anonymous)
        assert acked.status_code == 200
        assert f"Acknowledged by <b>{page['target']}</b>" in acked.text
        again = await http.post(path, headers=anonymous)
        forged = await http.get(path[:-3] + "abc", headers=anonymous)
        body = (await http.get(f"/v1/alerts/{alert['id']}")).json()
        # A second page's link, opened after it expired.
        await send(producer, kafka_settings, [scored_doc("C-B", 1, "negative", "retail", clock.now)])
        (other,) = [a for a in await alerts_of(http, rule, 2) if a["id"] != alert["id"]]
        await eventually(lambda: len(receiver.requests) >= 2, what="the second page")
        (late,) = [p for p in receiver.payloads() if p["alert"]["alert_id"] == other["id"]]
        clock.advance(hours=1, minutes=1)
        expired = await http.post(urlsplit(late["ack_url"]).path, headers=anonymous)
        still_open = (await http.get(f"/v1/alerts/{other['id']}")).json()["status"]
    assert again.status_code == 410
    assert forged.status_code == 404
    assert expired.status_code == 410
    assert still_open == "open"
    assert body["status"] == "acknowledged"
    ack = next(e for e in body["timeline"] if e["kind"] == "acknowledged")
    assert ack["actor"] == page["target"]
    assert ack["note"] == f"acknowledged from the link of delivery {page['delivery_id']}"


@pytest.mark.parametrize("loop", ["timers", "notifier"])
async def test_a_stalled_loop_turns_readyz_503_naming_it_and_overdue_work_is_counted(
    kafka_settings, producer, tmp_path, receiver, monkeypatch, loop
):
    stalled = asyncio.Event()

    def hanging(real):  # the loop's pass, hanging forever once `stalled` is set
        async def run(*args, **kwargs):
            if stalled.is_set():
                await asyncio.Event().wait()
            return await real(*args, **kwargs)

        return run

    if loop == "timers":
        monkeypatch.setattr(timers_module, "tick", hanging(timers_module.tick))
    else:
        monkeypatch.setattr(Notifier, "lease_and_send", hanging(Notifier.lease_and_send))
    clock = Clock()
    rules, suffix = rules_file(tmp_path, receiver.url)
    options = {"run_timers": True, "timer_interval_s": 0.05, "loop_stall_s": 1.0, "watchdog_interval_s": 0.1}
    async with alerting_app(kafka_settings, rules, clock, **options) as (_, http):

        async def ready() -> bool:
            return (await http.get("/readyz")).status_code == 200

        await eventually(ready, what="ready with both loops ticking")
        await send(producer, kafka_settings, [scored_doc("C-W", 1, "negative", "retail", clock.now)])
        (alert,) = await alerts_of(http, f"one-star-feedback-{suffix}", 1)
        stalled.set()
        # The escalation falls due: a stalled timer loop leaves it overdue; with the notifier stalled it
        # is applied but its page stays unsent.
        clock.advance(hours=2, minutes=3)
        if loop == "notifier":

            async def escalated() -> bool:
                return bool((await http.get(f"/v1/alerts/{alert['id']}")).json()["level"] == "L2")

            await eventually(escalated, what="the escalation applied by the live timer loop")
            clock.advance(minutes=3)

        async def unready() -> bool:
            return (await http.get("/readyz")).status_code == 503

        await eventually(unready, what="/readyz 503")
        body = (await http.get("/readyz")).json()

        gauge = "alerting_overdue_transitions " if loop == "timers" else "alerting_overdue_deliveries "

        async def overdue_counted() -> bool:
            metrics = (await http.get("/metrics")).text
            return float(next(x for x in metrics.splitlines() if x.startswith(gauge)).split()[1]) >= 1

        await eventually(overdue_counted, what="the overdue escalation counted")
    assert body["checks"]["loops"] is False
    assert body["messages"]["loops"].startswith(f"{loop}: no completed pass for over 1 s")


def with_sections(rules: Path, edit: Any) -> None:
    doc = yaml.safe_load(rules.read_text())
    edit(doc)
    rules.write_text(yaml.safe_dump(doc, allow_unicode=True))


async def test_a_page_due_in_a_mute_window_waits_for_its_end_and_is_dropped_if_acknowledged_meanwhile(
    kafka_settings, producer, tmp_path, receiver
):
    clock = Clock()  # starts on a Friday, at five in the afternoon in Shanghai: inside the window below
    rules, suffix = rules_file(tmp_path, receiver.url)

    def mute_l1(doc: dict[str, Any]) -> None:
        doc["time_intervals"] = {
            "evening": [
                {"times": [{"start_time": "16:30", "end_time": "18:00"}], "location": "Asia/Shanghai"}
            ]
        }
        doc["policies"]["default"]["steps"][0]["targets"][0]["mute_time_intervals"] = ["evening"]

    with_sections(rules, mute_l1)
    rule = f"one-star-feedback-{suffix}"
    async with alerting_app(kafka_settings, rules, clock) as (_, http):
        sent = [scored_doc(c, 1, "negative", "retail", clock.now) for c in ("C-M1", "C-M2")]
        await send(producer, kafka_settings, sent)
        first, second = sorted(await alerts_of(http, rule, 2), key=lambda a: a["customer_id"])
        acked = await http.post(f"/v1/alerts/{second['id']}/ack", json={"actor": "agent-li"})
        assert acked.status_code == 200
        clock.advance(hours=1)  # six in the afternoon in Shanghai: the window is over

        def paged() -> list[str]:
            return [p["alert"]["alert_id"] for p in receiver.payloads()]

        await eventually(lambda: first["id"] in paged(), what="the muted page sent at the end of the window")

        async def dropped() -> bool:
            body = (await http.get(f"/v1/alerts/{second['id']}")).json()
            return [d["status"] for d in body["deliveries"]] == ["skipped"]

        await eventually(dropped, what="the acknowledged alert's muted page dropped")

        async def recorded() -> bool:
            deliveries = (await http.get(f"/v1/alerts/{first['id']}")).json()["deliveries"]
            return [d["status"] for d in deliveries] == ["sent"]

        await eventually(recorded, what="the muted page recorded as sent")
        body = (await http.get(f"/v1/alerts/{first['id']}")).json()
    muted = next(e for e in body["timeline"] if e["kind"] == "notification_muted")
    assert muted["detail"]["until"] == "2026-11-20T10:00:00+00:00"
    (delivery,) = body["deliveries"]
    assert delivery["status"] == "sent"
    assert delivery["sent_at"] >= "2026-11-20T10:00:00"
    assert second["id"] not in paged()


async def test_an_open_alert_of_a_line_inhibits_pages_of_the_same_line_until_it_resolves(
    kafka_settings, producer, tmp_path, receiver
):
    clock = Clock()
    rules, suffix = rules_file(tmp_path, receiver.url)
    rule = f"one-star-feedback-{suffix}"
    inhibit = [{"source": {"rule": rule}, "target": {"rule": rule}, "equal": ["business_line"]}]
    with_sections(rules, lambda doc: doc.update(inhibit_rules=inhibit))
    async with alerting_app(kafka_settings, rules, clock) as (app, http):
        await send(producer, kafka_settings, [scored_doc("C-I1", 1, "negative", "retail", clock.now)])
        (source,) = await alerts_of(http, rule, 1)
        later = [
            scored_doc("C-I2", 1, "negative", "retail", clock.now),
            scored_doc("C-I3", 1, "negative", "hotel", clock.now),
        ]
        await send(producer, kafka_settings, later)
        found = {a["customer_id"]: a for a in await alerts_of(http, rule, 3)}
        retail, hotel = found["C-I2"], found["C-I3"]
        assert (retail["silenced"], hotel["silenced"]) == (True, False)
        assert await pages_of(retail["id"]) == []
        resolved = await http.post(f"/v1/alerts/{source['id']}/resolve", json={"actor": "ops"})
        assert resolved.status_code == 200
        await tick(app.state.runtime, _state(app), clock.now)
        body = (await http.get(f"/v1/alerts/{retail['id']}")).json()
    assert await pages_of(retail["id"]) == [("unsilenced", "L1")]
    assert await pages_of(hotel["id"]) == [("fired", "L1")]
    held = next(e for e in body["timeline"] if e["kind"] == "notification_held")
    assert held["detail"] == {"transition": "fired", "by": "inhibition"}


async def test_the_person_covering_the_schedule_at_the_alerts_time_is_paged_and_listed_on_call(
    kafka_settings, producer, tmp_path, receiver
):
    clock = Clock()  # starts at five in the afternoon in Shanghai: inside the override below
    rules, suffix = rules_file(tmp_path, receiver.url)
    cover = {"person": "agent-zhao", "start": "2026-11-20T12:00", "end": "2026-11-21T09:00"}

    def covered(doc: dict[str, Any]) -> None:
        doc["schedules"]["frontline"]["overrides"] = [cover]
        doc["contacts"]["agent-zhao"] = {"webhook": receiver.url}

    with_sections(rules, covered)
    async with alerting_app(kafka_settings, rules, clock) as (_, http):
        await send(producer, kafka_settings, [scored_doc("C-O", 1, "negative", "retail", clock.now)])
        (alert,) = await alerts_of(http, f"one-star-feedback-{suffix}", 1)
        await eventually(lambda: len(receiver.requests) >= 1, what="the page")
        oncall = (await http.get("/v1/oncall")).json()
        later = (await http.get("/v1/oncall", params={"at": "2026-11-21T10:00:00+08:00"})).json()
        naive = await http.get("/v1/oncall", params={"at": "2026-11-21T10:00:00"})
    pages = [p for p in receiver.payloads() if p["alert"]["alert_id"] == alert["id"]]
    assert [p["target"] for p in pages] == ["agent-zhao"]
    (frontline,) = oncall["schedules"]
    assert (frontline["now"], frontline["until"]) == ("agent-zhao", "2026-11-21T09:00:00+08:00")
    assert frontline["next"] != "agent-zhao"
    assert later["schedules"][0]["now"] == frontline["next"]
    assert naive.status_code == 422


async def test_a_signed_slack_button_click_acknowledges_and_a_forged_or_stale_one_is_refused(
    kafka_settings, producer, tmp_path, receiver
):
    clock = Clock()
    rules, suffix = rules_file(tmp_path, receiver.url)
    secret = "slack-signing-secret"
    async with alerting_app(kafka_settings, rules, clock, slack_signing_secret=secret) as (_, http):
        await send(producer, kafka_settings, [scored_doc("C-K", 1, "negative", "retail", clock.now)])
        (alert,) = await alerts_of(http, f"one-star-feedback-{suffix}", 1)
        await eventually(lambda: len(receiver.requests) >= 1, what="the page")
        (page,) = [p for p in receiver.payloads() if p["alert"]["alert_id"] == alert["id"]]
        token = page["ack_url"].rsplit("/", 1)[1]
        action = {"user": {"id": "U1", "username": "wang"}, "actions": [{"action_id": "ack", "value": token}]}
        body = urlencode({"payload": json.dumps(action)}).encode()

        async def click(stamp: int, key: str = secret) -> Any:
            headers = {
                "Content-Type": "application/x-www-form-urlencoded",
                "X-Slack-Request-Timestamp": str(stamp),
                "X-Slack-Signature": slack_signature(key, str(stamp), body),
                "X-API-Key": "",
            }
            return await http.post("/slack/actions", content=body, headers=headers)

        forged = await click(int(time.time()), key="guessed")
        stale = await click(int(time.time()) - 600)
        done = await click(int(time.time()))
        detail = (await http.get(f"/v1/alerts/{alert['id']}")).json()
    assert (forged.status_code, stale.status_code) == (401, 401)
    assert done.status_code == 200
    assert done.json()["text"].startswith("Acknowledged by wang")
    assert detail["status"] == "acknowledged"
    assert next(e for e in detail["timeline"] if e["kind"] == "acknowledged")["actor"] == "slack:wang"


async def test_two_replicas_elect_one_leader_that_consumes_and_the_standby_takes_over_when_it_stops(
    kafka_settings, producer, tmp_path, receiver
):
    clock = Clock()
    rules, suffix = rules_file(tmp_path, receiver.url)
    rule = f"one-star-feedback-{suffix}"
    options = {"consumer_group": f"alerting-{uuid.uuid4().hex[:8]}", "leader_poll_s": 0.2}
    first_replica = contextlib.AsyncExitStack()
    first, _ = await first_replica.enter_async_context(alerting_app(kafka_settings, rules, clock, **options))
    try:
        await eventually(lambda: first.state.alerting_leadership.leader, what="the first replica leading")
        async with alerting_app(kafka_settings, rules, clock, **options) as (second, http):

            async def ready() -> bool:
                return (await http.get("/readyz")).status_code == 200

            await eventually(ready, what="the standby ready to serve")
            assert second.state.alerting_leadership.leader is False
            assert second.state.runtime.consumers == []
            await send(producer, kafka_settings, [scored_doc("C-L1", 1, "negative", "retail", clock.now)])
            await alerts_of(http, rule, 1)  # consumed by the leader, served by the standby
            await first_replica.aclose()  # the leader stops: its session ends, the lock is free
            await eventually(lambda: second.state.alerting_leadership.leader, what="the standby taking over")
            await send(producer, kafka_settings, [scored_doc("C-L2", 1, "negative", "retail", clock.now)])
            alerts = await alerts_of(http, rule, 2)
            ids = {a["id"] for a in alerts}
            await eventually(
                lambda: {p["alert"]["alert_id"] for p in receiver.payloads()} >= ids, what="pages"
            )
    finally:
        await first_replica.aclose()
    pages = [p["alert"]["alert_id"] for p in receiver.payloads() if p["alert"]["alert_id"] in ids]
    assert sorted(pages) == sorted(ids), "each alert paged exactly once across the hand-over"


async def test_an_acknowledged_complaint_unresolved_past_its_target_is_flagged_and_pages_the_next_level(
    kafka_settings, producer, tmp_path, receiver
):
    clock = Clock()
    rules, suffix = rules_file(tmp_path, receiver.url)
    rule = f"one-star-feedback-{suffix}"
    async with alerting_app(kafka_settings, rules, clock) as (app, http):
        await send(producer, kafka_settings, [scored_doc("C-SLA", 1, "negative", "retail", clock.now)])
        (alert,) = await alerts_of(http, rule, 1)
        assert datetime.fromisoformat(alert["resolve_by"]) == clock.now + timedelta(hours=24)
        clock.advance(minutes=30)
        await http.post(f"/v1/alerts/{alert['id']}/ack", json={"actor": "agent-wang", "note": "on it"})
        clock.advance(hours=23, minutes=29)
        await tick(app.state.runtime, _state(app), clock.now)
        assert (await http.get(f"/v1/alerts/{alert['id']}")).json()["sla_missed_at"] is None
        clock.advance(minutes=1)  # 24 h after it fired, still unresolved
        await tick(app.state.runtime, _state(app), clock.now)
        body = (await http.get(f"/v1/alerts/{alert['id']}")).json()

        # (the shared database's other alerts missing their targets at this tick page this receiver too)
        def ours(p: dict[str, Any]) -> bool:
            return bool(p["transition"] == "sla_missed" and p["alert"]["alert_id"] == alert["id"])

        await eventually(lambda: any(ours(p) for p in receiver.payloads()), what="the L2 page")
        topic = spec_topic(ALERTS, kafka_settings)
        kinds: list[str] = []

        async def three_events() -> bool:  # the module's topic also holds other tests' alerts
            records = await read_to_end(kafka_settings.bootstrap_servers, topic, at_least=3)
            kinds[:] = [json.loads(r.value)["type"] for r in records if r.key.decode() == alert["id"]]
            return len(kinds) >= 3

        await eventually(three_events, what="the alert's three alerts.v1 events")
    assert (body["level"], body["status"]) == ("L2", "acknowledged")
    assert datetime.fromisoformat(body["sla_missed_at"]) == clock.now
    missed = next(e for e in body["timeline"] if e["kind"] == "sla_missed")
    assert missed["detail"] == {"from": "L1", "to": "L2"}
    page = next(p for p in receiver.payloads() if ours(p))
    assert page["alert"]["level"] == "L2"
    assert kinds == ["alert.fired", "alert.acknowledged", "alert.sla_missed"]


async def test_the_incoming_person_on_call_is_told_of_the_hand_off_once(
    kafka_settings, producer, tmp_path, receiver
):
    # Friday 2026-11-20; the shipped frontline rotation hands over on Mondays at 09:00 Asia/Shanghai
    clock, started = Clock(), datetime.now(UTC)
    rules, _ = rules_file(tmp_path, receiver.url, handoff_notices=True)
    rotation = load_rules(rules).schedules["frontline"]
    async with alerting_app(kafka_settings, rules, clock) as (app, _http):
        await tick(app.state.runtime, _state(app), clock.now)  # the first look announces nothing
        before = on_call(rotation, clock.now)
        clock.now = datetime(2026, 11, 23, 1, 0, 30, tzinfo=UTC)  # Monday 09:00:30 in Shanghai
        incoming = on_call(rotation, clock.now)
        assert incoming != before
        await tick(app.state.runtime, _state(app), clock.now)
        handed_at = clock.now
        clock.advance(minutes=5)
        await tick(app.state.runtime, _state(app), clock.now)  # nothing changed since: no second notice
        queued = await handoff_deliveries(started)
        await eventually(
            lambda: any(p["transition"] == "handoff" for p in receiver.payloads()), what="the hand-off notice"
        )
    assert [(d["target"], d["channel"], d["at"]) for d in queued] == [
        (incoming, "webhook", handed_at.isoformat())
    ], "one notice, at the hand-off; none at the first look or on the tick after"
    notice = next(p for p in receiver.payloads() if p["transition"] == "handoff")
    until, following = next_handoff(rotation, handed_at)
    assert notice["alert"]["summary"].startswith(f"{incoming}: on call for frontline until ")
    assert notice["alert"]["summary"].endswith(f"then {following}")
    assert notice["alert"]["group_key"] == {"schedule": "frontline"}
    assert notice["next_action_at"] == until.isoformat()


async def handoff_deliveries(since: datetime) -> list[dict[str, Any]]:
    """Every hand-off notice queued since `since` (real time: earlier runs of the test left theirs; no
    other test enables them), whatever virtual time it was queued at."""
    query = (
        "SELECT target, channel, payload->'alert'->>'at' AS at FROM alerting.deliveries"
        " WHERE transition = 'handoff' AND created_at >= :since ORDER BY id"
    )
    return await rows_of(query, since=since)


async def test_an_alert_keeps_the_policy_it_fired_under_when_the_rules_change_mid_escalation(
    kafka_settings, producer, tmp_path, receiver
):
    clock = Clock()
    rules, suffix = rules_file(tmp_path, receiver.url)
    rule = f"one-star-feedback-{suffix}"
    async with alerting_app(kafka_settings, rules, clock) as (app, http):
        await send(producer, kafka_settings, [scored_doc("C-SNAP", 1, "negative", "retail", clock.now)])
        (alert,) = await alerts_of(http, rule, 1)

        def slower(doc: dict[str, Any]) -> None:
            doc["policies"]["default"]["steps"][0]["timeout"] = "10h"

        with_sections(rules, slower)  # new alerts would wait 10 h at L1

        def reloaded() -> bool:  # the file is looked at every few seconds
            return bool(_state(app).config().policies["default"].steps[0].timeout == timedelta(hours=10))

        await eventually(reloaded, timeout_s=20, what="the edited rules in force")
        clock.advance(hours=2)
        await tick(app.state.runtime, _state(app), clock.now)
        body = (await http.get(f"/v1/alerts/{alert['id']}")).json()
    assert body["level"] == "L2", "the alert escalated after the 2 h of the policy it fired under"
    escalated = next(e for e in body["timeline"] if e["kind"] == "escalated")
    assert datetime.fromisoformat(escalated["at"]) == clock.now
