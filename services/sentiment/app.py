"""The sentiment service: consumes feedback.received.v1 and scores it with BERT into feedback.scored.v1."""

from fastapi import FastAPI

from services.sentiment.api import router as sentiment_router
from services.sentiment.aspects import AspectTagger, load_taxonomy
from services.sentiment.backends import ModelUnavailable
from services.sentiment.config import SentimentSettings
from services.sentiment.consumer import scoring_handler
from services.sentiment.service import build_scorer
from shared.contracts.registry import FEEDBACK_RECEIVED
from shared.ops import operator_router
from shared.security import hash_key
from shared.service import ConsumerSpec, build_app
from shared.settings import load_settings


def create_app(settings: SentimentSettings | None = None) -> FastAPI:
    """Without a usable model the service still starts (to say why on /readyz) but consumes nothing."""
    settings = settings or load_settings(SentimentSettings)
    scorer = build_scorer(settings, AspectTagger(load_taxonomy(settings.aspects_path)))

    async def model_ready() -> bool | str:
        return True if not isinstance(scorer, ModelUnavailable) else f"model unavailable: {scorer}"

    consumers = (
        []
        if isinstance(scorer, ModelUnavailable)
        else [
            ConsumerSpec(
                settings.consumer_group,
                [FEEDBACK_RECEIVED],
                scoring_handler(scorer, settings.consumer_group),
                max_batch=256,
            )
        ]
    )
    app = build_app(
        service="sentiment",
        settings=settings,
        title="Sentiment service",
        description="consumes feedback.received.v1 and scores it with BERT into feedback.scored.v1.",
        consumers=consumers,
        routers=[sentiment_router, operator_router(settings)],
        readiness={"model": model_ready},
    )
    app.state.scorer = scorer
    app.state.key_hashes = {"operator": hash_key(settings.operator_api_key.get_secret_value())}
    return app
