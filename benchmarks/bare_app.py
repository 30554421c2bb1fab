"""The baseline for the ingest benchmark: the same request model validated by a bare FastAPI endpoint
that returns at once (no auth, no masking, no database, no Kafka). Same process settings as the
services (garbage-collector tuning), so the ratio measures ingest's own work."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from uuid import uuid4

from fastapi import FastAPI

from services.ingest.schemas import FeedbackAccepted, FeedbackIn
from shared.gctuning import tune_gc


def create_app() -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        tune_gc()
        yield

    app = FastAPI(lifespan=lifespan)

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/v1/feedback", status_code=202)
    async def post_feedback(item: FeedbackIn) -> FeedbackAccepted:
        return FeedbackAccepted(feedback_id=uuid4(), status="accepted")

    return app
