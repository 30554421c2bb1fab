"""The sentiment service: consumes feedback.received.v1 and scores it with BERT into feedback.scored.v1."""

from fastapi import FastAPI

from services.sentiment.config import SentimentSettings
from services.sentiment.models import processed_events
from shared.contracts.registry import FEEDBACK_RECEIVED
from shared.ops import operator_router
from shared.service import ConsumerSpec, build_app, recording_handler
from shared.settings import load_settings


def create_app(settings: SentimentSettings | None = None) -> FastAPI:
    settings = settings or load_settings(SentimentSettings)
    group = settings.consumer_group
    return build_app(
        service="sentiment",
        settings=settings,
        title="Sentiment service",
        description="consumes feedback.received.v1 and scores it with BERT into feedback.scored.v1.",
        consumers=[ConsumerSpec(group, [FEEDBACK_RECEIVED], recording_handler(processed_events, group))],
        routers=[operator_router(settings)],
    )
