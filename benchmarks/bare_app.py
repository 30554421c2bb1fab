"""The baseline for the ingest benchmark: the same request model validated by a bare FastAPI endpoint
that returns at once (no auth, no masking, no database, no Kafka)."""

from uuid import uuid4

from fastapi import FastAPI

from services.ingest.schemas import FeedbackAccepted, FeedbackIn


def create_app() -> FastAPI:
    app = FastAPI()

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/v1/feedback", status_code=202)
    async def post_feedback(item: FeedbackIn) -> FeedbackAccepted:
        return FeedbackAccepted(feedback_id=uuid4(), status="accepted")

    return app
