"""POST /v1/score (synchronous scoring of up to 64 texts) and GET /v1/model."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request
from pydantic import BaseModel, ConfigDict, Field

from services.sentiment.backends import ModelUnavailable
from services.sentiment.batcher import Scored
from services.sentiment.labels import Schema, verdicts
from services.sentiment.scoring import NEUTRAL
from services.sentiment.service import Scorer
from shared.contracts.feedback import Aspect, ScoreFlag, SentimentLabel
from shared.security import app_client

MAX_TEXTS = 64


class ScoreRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    texts: list[Annotated[str, Field(max_length=10_000)]] = Field(min_length=1, max_length=MAX_TEXTS)

    model_config["json_schema_extra"] = {
        "examples": [
            {
                "texts": [
                    "外观漂亮，可惜续航太短",
                    "The packaging was damaged but the agent was very professional",
                ]
            }
        ]
    }


class TextScore(BaseModel):
    stars: int
    stars_expected: float
    label: SentimentLabel
    score: float
    confidence: float
    aspects: list[Aspect]
    flags: list[ScoreFlag]


class ScoreResponse(BaseModel):
    model: dict[str, str]
    results: list[TextScore]


class ModelOut(BaseModel):
    id: str
    version: str
    backend: str
    labels: dict[int, str] = Field(description="The model's id2label")
    schema_: Schema = Field(alias="schema", description="How its labels map to stars and polarity")
    metrics: dict[str, Any] = Field(description="Held-out figures recorded when it was built")
    agreement: dict[str, Any] = Field(description="Label agreement of the served backend with fp32")
    blend_weight: float = Field(
        0.0, description="Weight of the char n-gram blend on Chinese text, chosen on dev when built (0: none)"
    )

    model_config = ConfigDict(populate_by_name=True)


def scorer_of(request: Request) -> Scorer:
    """The loaded model's scorer; 503 with Retry-After when the model could not be loaded."""
    scorer: Scorer | ModelUnavailable = request.app.state.scorer
    if isinstance(scorer, ModelUnavailable):
        raise HTTPException(503, detail=f"model unavailable: {scorer}", headers={"Retry-After": "30"})
    return scorer


ScorerDep = Annotated[Scorer, Depends(scorer_of)]
router = APIRouter(prefix="/v1", tags=["sentiment"], dependencies=[Depends(app_client(allowed={"operator"}))])


@router.post("/score")
async def score(body: ScoreRequest, live: ScorerDep) -> ScoreResponse:
    """Scores up to 64 texts now (sharing micro-batches with the consumer). Operator key required."""
    scored = await live.score_texts(body.texts, urgent=True)
    # Aspect tagging runs every aspect's patterns over every clause of up to 64 texts of 10,000
    # characters: CPU work, kept off the event loop.
    results = await asyncio.to_thread(_results, live, body.texts, scored)
    return ScoreResponse(model=live.context.model.model_dump(exclude_none=True), results=results)


@router.get("/model")
async def model(live: ScorerDep) -> ModelOut:
    """The served model: id, version, backend, labels and the metrics recorded when it was built.
    Operator key required (only health, readiness, metrics and docs are open)."""
    card = live.model.card
    blend = getattr(live.model.backend, "blend", None)  # the ONNX and torch backends load one when present
    return ModelOut(
        id=live.model.id,
        version=live.model.version,
        backend=live.model.backend.name,
        labels=live.model.id2label,
        schema_=live.model.labels.schema,
        metrics=card.get("metrics", {}),
        agreement=card.get("agreement", {}),
        blend_weight=blend.weight if blend is not None else 0.0,
    )


def _results(live: Scorer, texts: list[str], scored: Sequence[Scored | None]) -> list[TextScore]:
    results = []
    for text, item in zip(texts, scored, strict=True):
        verdict = NEUTRAL if item is None else verdicts(item.probabilities[None, :], live.context.labels)[0]
        flags: list[ScoreFlag] = ["empty_text"] if item is None else (["truncated"] if item.truncated else [])
        aspects = live.context.tagger.tag(text, verdict.label) if item is not None else []
        results.append(TextScore(**verdict.__dict__, aspects=aspects, flags=flags))
    return results
