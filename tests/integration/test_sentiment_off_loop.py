"""POST /v1/score tags aspects off the event loop: the service answers other requests meanwhile."""

from __future__ import annotations

import asyncio
import threading
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from services.sentiment.app import create_app
from services.sentiment.aspects import AspectTagger
from services.sentiment.config import SentimentSettings
from shared.settings import KafkaSettings
from tests.tiny_models import STARS, tiny_checkpoint

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("topics")]


async def test_the_service_answers_other_requests_while_texts_are_tagged(
    kafka_settings: KafkaSettings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """Tagging is held until /healthz has been answered: on the event loop it would hold the loop too."""
    model = tiny_checkpoint(tmp_path / "tiny", STARS, onnx=True)
    started, release = threading.Event(), threading.Event()
    tag = AspectTagger.tag

    def held(self: AspectTagger, *args: Any) -> Any:
        started.set()
        release.wait(timeout=10)
        return tag(self, *args)

    monkeypatch.setattr(AspectTagger, "tag", held)
    settings = SentimentSettings(
        kafka=kafka_settings, model=str(model), consumer_group=f"sentiment-{uuid.uuid4().hex[:8]}"
    )
    app = create_app(settings)
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://sentiment") as http,
    ):
        scoring = asyncio.create_task(
            http.post(
                "/v1/score", json={"texts": ["电池续航太短"]}, headers={"X-API-Key": "dev-operator-key"}
            )
        )
        assert await asyncio.to_thread(started.wait, 10)
        health = await http.get("/healthz")
        tagged_before_health = scoring.done()
        release.set()
        answer = await scoring
    assert health.status_code == 200
    assert not tagged_before_health
    assert answer.status_code == 200
    assert len(answer.json()["results"]) == 1
