"""The ingest service: the HTTP front door that publishes feedback and business events to Kafka."""

from fastapi import FastAPI

from services.ingest.config import IngestSettings
from shared.ops import operator_router
from shared.service import build_app
from shared.settings import load_settings


def create_app(settings: IngestSettings | None = None) -> FastAPI:
    settings = settings or load_settings(IngestSettings)
    return build_app(
        service="ingest",
        settings=settings,
        title="Ingest service",
        description="Accepts omnichannel feedback and business events over HTTP into Kafka.",
        routers=[operator_router(settings)],
    )
