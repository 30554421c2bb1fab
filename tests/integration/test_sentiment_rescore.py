"""Re-scoring retained feedback with a new model version over the real broker (and alerting's database):
a new verdict per feedback, idempotent re-runs, and an open case that gains evidence without paging again."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sys
import tempfile
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from services.sentiment.app import create_app
from services.sentiment.config import DEFAULT_MODEL, SentimentSettings
from services.sentiment.scoring import scored_envelope, scored_event_id
from shared.contracts.feedback import FeedbackScored, ModelRef
from shared.contracts.registry import FEEDBACK_RECEIVED, FEEDBACK_SCORED
from shared.settings import KafkaSettings
from tests.conftest import spec_topic
from tests.integration.alerting_helpers import Clock, Receiver, alerting_app, rules_file
from tests.integration.helpers import EXAMPLES, eventually, feedback_received, to_bytes
from tests.support.kafka import read_exactly

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def next_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The default model under a new version, as a retrained model would be deployed."""
    copy = tmp_path_factory.mktemp("model") / "default"
    shutil.copytree(DEFAULT_MODEL, copy)
    card = json.loads((copy / "serving.json").read_text())
    card["version"] = f"{card['version']}-next"
    (copy / "serving.json").write_text(json.dumps(card))
    return copy


@pytest.fixture
async def sentiment(kafka_settings: KafkaSettings, topics: None) -> AsyncIterator[httpx.AsyncClient]:
    settings = SentimentSettings(
        kafka=kafka_settings, model=str(DEFAULT_MODEL), consumer_group=f"sentiment-{uuid.uuid4().hex[:8]}"
    )
    app = create_app(settings)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sentiment") as http,
    ):
        yield http


async def run_rescore(kafka: KafkaSettings, model: Path, *args: str) -> tuple[int, str, str]:
    """The documented command in a process of its own: (exit status, stdout, stderr)."""
    env = os.environ | {
        "KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap_servers,
        "KAFKA_TOPIC_SUFFIX": kafka.topic_suffix,
        "SENTIMENT_MODEL": str(model),
    }
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:  # kept, even if it hangs
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "services.sentiment.rescore", *args, env=env, stdout=out, stderr=err
        )
        try:
            status = await asyncio.wait_for(process.wait(), 90)
        except TimeoutError:
            process.kill()
            await process.wait()
            status = None
        out.seek(0)
        err.seek(0)
        printed, complained = out.read().decode(), err.read().decode()
    assert status is not None, f"rescore did not finish: {printed[-2000:]} {complained[-2000:]}"
    return status, printed, complained


async def rescored(kafka: KafkaSettings, model: Path, *args: str) -> dict[str, Any]:
    status, out, err = await run_rescore(kafka, model, *args)
    assert status == 0, err
    summary: dict[str, Any] = json.loads(out)  # stdout is the JSON summary alone (logs go to stderr)
    return summary


async def test_a_new_model_version_re_scores_retained_feedback_once_per_version(
    sentiment, producer, kafka_settings, next_model
):
    since = (datetime.now(UTC) - timedelta(seconds=5)).isoformat()
    docs = [
        feedback_received("C1", text="包装破损，快递很慢，很失望", csat=1),
        feedback_received("C2", text="", csat=5),
        feedback_received("C3", text="the agent was friendly and quick"),
    ]
    records = [(b"C0", b"\xff not json", [])] + [(d["key"].encode(), to_bytes(d), []) for d in docs]
    await producer.send_raw_many(spec_topic(FEEDBACK_RECEIVED, kafka_settings), records)
    scored_topic = spec_topic(FEEDBACK_SCORED, kafka_settings)
    first = await read_exactly(kafka_settings.bootstrap_servers, scored_topic, 3)
    assert len(first) == 3
    served = json.loads(first[0].value)["payload"]["model"]

    summary = await rescored(kafka_settings, next_model, "--since", since)
    assert (summary["read"], summary["rescored"], summary["skipped"]) == (4, 3, 1)
    new = ModelRef.model_validate(summary["model"])
    assert (new.id, new.version) == (served["id"], f"{served['version']}-next")
    both = [
        json.loads(r.value) for r in await read_exactly(kafka_settings.bootstrap_servers, scored_topic, 6)
    ]
    assert len(both) == 6
    for doc in docs:
        verdicts = [e for e in both if e["payload"]["feedback_id"] == doc["payload"]["feedback_id"]]
        assert sorted(e["payload"]["model"]["version"] for e in verdicts) == [served["version"], new.version]
        assert len({e["event_id"] for e in verdicts}) == 2
        latest = next(e for e in verdicts if e["payload"]["model"]["version"] == new.version)
        assert latest["event_id"] == str(scored_event_id(uuid.UUID(doc["event_id"]), new))
        assert latest["key"] == doc["key"]
        assert "rescored" in latest["payload"]["flags"]  # alerting's windows do not count it again
        assert all("rescored" not in e["payload"]["flags"] for e in verdicts if e is not latest)

    # A range that ends before the records holds none of them; the whole range again repeats the ids.
    assert (await rescored(kafka_settings, next_model, "--since", since, "--until", since))["read"] == 0
    assert (await rescored(kafka_settings, next_model, "--since", since))["rescored"] == 3
    again = [
        json.loads(r.value) for r in await read_exactly(kafka_settings.bootstrap_servers, scored_topic, 9)
    ]
    assert len(again) == 9
    assert {e["event_id"] for e in again} == {e["event_id"] for e in both}


async def test_an_unreachable_broker_fails_the_command_naming_it(next_model):
    unreachable = KafkaSettings(bootstrap_servers="127.0.0.1:1", topic_suffix=".none")
    status, out, err = await run_rescore(unreachable, next_model, "--since", "2026-12-01T00:00:00+00:00")
    assert status == 1
    assert "rescore failed" in err
    assert "127.0.0.1:1" in err
    assert out == ""


def verdict(received_id: uuid.UUID, feedback_id: str, version: str, at: datetime) -> Any:
    """The scored event the service (or the re-score command) publishes for a 1-star feedback."""
    doc = json.loads((EXAMPLES / "feedback.scored.v1" / "feedback.scored.json").read_text())
    payload = doc["payload"] | {
        "feedback_id": feedback_id,
        "customer_id": "C-RESCORE",
        "stars": 1,
        "label": "negative",
        "score": -0.9,
        "occurred_at": at.isoformat(),
        "model": {"id": "feedback-bert-small", "version": version},
    }
    return scored_envelope(received_id, FeedbackScored.model_validate(payload), "sentiment", at)


async def test_a_re_scored_one_star_feedback_adds_evidence_to_its_open_case_without_paging_again(
    kafka_settings, producer, topics, tmp_path
):
    receiver = Receiver().start()
    clock = Clock()
    rules, suffix = rules_file(tmp_path, receiver.url)
    received_id, feedback_id = uuid.uuid4(), str(uuid.uuid4())
    topic = spec_topic(FEEDBACK_SCORED, kafka_settings)
    try:
        async with alerting_app(kafka_settings, rules, clock) as (_, http):
            await producer.publish_many(topic, [verdict(received_id, feedback_id, "v1", clock.now)])
            alert_id = await only_alert(http, f"one-star-feedback-{suffix}")
            await eventually(lambda: len(receiver.requests) == 1, what="the case paged")
            await producer.publish_many(topic, [verdict(received_id, feedback_id, "v2", clock.now)])
            alert = await alert_with_evidence(http, alert_id, 2)
    finally:
        receiver.stop()
    assert {e["model"] for e in alert["evidence"]} == {"feedback-bert-small@v1", "feedback-bert-small@v2"}
    assert {e["feedback_id"] for e in alert["evidence"]} == {feedback_id}
    # Deliveries are enqueued in the transaction that fires the alert: the re-score enqueued none.
    assert [d["transition"] for d in alert["deliveries"]] == ["fired"]
    assert [t["kind"] for t in alert["timeline"]].count("fired") == 1
    assert len(receiver.requests) == 1


async def only_alert(http: httpx.AsyncClient, rule: str) -> str:
    found: list[dict[str, Any]] = []

    async def any_alert() -> bool:
        nonlocal found
        found = (await http.get("/v1/alerts", params={"rule": rule})).json()["alerts"]
        return bool(found)

    await eventually(any_alert, 20, f"an alert of {rule}")
    assert len(found) == 1, found
    return str(found[0]["id"])


async def alert_with_evidence(http: httpx.AsyncClient, alert_id: str, entries: int) -> dict[str, Any]:
    alert: dict[str, Any] = {}

    async def enough_evidence() -> bool:
        nonlocal alert
        alert = (await http.get(f"/v1/alerts/{alert_id}")).json()
        return len(alert["evidence"]) >= entries

    try:
        await eventually(enough_evidence, 20, f"{entries} evidence entries on alert {alert_id}")
    except AssertionError as exc:
        raise AssertionError(f"{exc}; evidence: {alert.get('evidence')}") from None
    return alert
