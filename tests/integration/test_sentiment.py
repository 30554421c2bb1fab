"""The sentiment service over the real broker: received feedback in, scored feedback out."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from services.sentiment.app import create_app
from services.sentiment.config import SentimentSettings
from services.sentiment.scoring import scored_event_id
from shared.contracts.feedback import ModelRef
from shared.contracts.registry import FEEDBACK_RECEIVED, FEEDBACK_SCORED
from shared.settings import KafkaSettings
from tests.conftest import spec_topic
from tests.integration.helpers import feedback_received, to_bytes
from tests.support.kafka import read_exactly
from tests.tiny_models import STARS, tiny_checkpoint

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("topics")]
OPERATOR = {"X-API-Key": "dev-operator-key"}


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_checkpoint(tmp_path_factory.mktemp("model") / "tiny", STARS, onnx=True)


async def running(settings: SentimentSettings) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sentiment") as http,
    ):
        yield http


@pytest.fixture
async def sentiment(kafka_settings: KafkaSettings, tiny_model: Path) -> AsyncIterator[httpx.AsyncClient]:
    settings = SentimentSettings(
        kafka=kafka_settings, model=str(tiny_model), consumer_group=f"sentiment-{uuid.uuid4().hex[:8]}"
    )
    async for http in running(settings):
        yield http


async def test_received_feedback_is_published_scored_with_a_derived_id(sentiment, producer, kafka_settings):
    docs = [
        feedback_received("C1", text="包装破损，快递很慢，很失望", csat=1),
        feedback_received("C2", text="", csat=5),
        feedback_received("C3", text="the box was damaged but the agent was professional"),
    ]
    await producer.send_raw_many(
        spec_topic(FEEDBACK_RECEIVED, kafka_settings), [(d["key"].encode(), to_bytes(d), []) for d in docs]
    )
    records = await read_exactly(
        kafka_settings.bootstrap_servers, spec_topic(FEEDBACK_SCORED, kafka_settings), 3
    )
    scored = {json.loads(r.value)["payload"]["customer_id"]: json.loads(r.value) for r in records}
    assert sorted(scored) == ["C1", "C2", "C3"]
    for doc in docs:
        out = scored[doc["key"]]
        model = ModelRef.model_validate(out["payload"]["model"])
        assert out["event_id"] == str(scored_event_id(uuid.UUID(doc["event_id"]), model))
        assert out["payload"]["feedback_id"] == doc["payload"]["feedback_id"]
        assert out["payload"]["model"]["id"] == "tiny"
        assert out["payload"]["model"]["backend"] == "onnx-int8"
    assert scored["C2"]["payload"]["flags"] == ["empty_text"]
    assert scored["C2"]["payload"]["label"] == "neutral"
    aspects = {a["name"] for a in scored["C1"]["payload"]["aspects"]}
    assert {"packaging", "delivery"} <= aspects


async def test_undecodable_feedback_goes_to_the_dlq_and_the_rest_is_scored(
    sentiment, producer, kafka_settings
):
    good = feedback_received("C9", text="很满意")
    await producer.send_raw_many(
        spec_topic(FEEDBACK_RECEIVED, kafka_settings),
        [(b"C8", b"\xff not json", []), (b"C9", to_bytes(good), [])],
    )
    dead = await read_exactly(
        kafka_settings.bootstrap_servers, FEEDBACK_RECEIVED.dlq + kafka_settings.topic_suffix, 1
    )
    scored = await read_exactly(
        kafka_settings.bootstrap_servers, spec_topic(FEEDBACK_SCORED, kafka_settings), 1
    )
    assert len(dead) == 1
    assert dead[0].value == b"\xff not json"
    assert dict(dead[0].headers)["dlq.error"]
    assert [json.loads(r.value)["payload"]["customer_id"] for r in scored] == ["C9"]


async def test_score_endpoint_needs_the_operator_key_and_bounds_the_batch(sentiment):
    assert (await sentiment.post("/v1/score", json={"texts": ["好"]})).status_code == 401
    response = await sentiment.post("/v1/score", json={"texts": ["好", "", "差" * 500]}, headers=OPERATOR)
    assert response.status_code == 200
    results = response.json()["results"]
    assert len(results) == 3
    assert results[1]["flags"] == ["empty_text"]
    assert results[2]["flags"] == ["truncated"]
    too_many = await sentiment.post("/v1/score", json={"texts": ["好"] * 65}, headers=OPERATOR)
    assert too_many.status_code == 422
    assert "texts" in too_many.text


async def test_model_endpoint_describes_the_served_model_to_the_operator(sentiment):
    assert (await sentiment.get("/v1/model")).status_code == 401
    body = (await sentiment.get("/v1/model", headers=OPERATOR)).json()
    assert body["id"] == "tiny"
    assert body["backend"] == "onnx-int8"
    assert body["schema"] == "stars5"
    assert body["labels"]["0"] == "1 star"
    assert body["blend_weight"] == 0.0  # the tiny model has no blend.npz


async def test_missing_model_makes_the_service_unready_naming_the_path(kafka_settings, tmp_path: Path):
    missing = tmp_path / "no-model-here"
    settings = SentimentSettings(kafka=kafka_settings, model=str(missing))
    async for http in running(settings):
        ready = await http.get("/readyz")
        assert ready.status_code == 503
        assert str(missing) in ready.json()["messages"]["model"]
        scored = await http.post("/v1/score", json={"texts": ["好"]}, headers=OPERATOR)
        assert scored.status_code == 503
        assert str(missing) in scored.json()["detail"]
