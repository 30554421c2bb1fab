"""Ingest routes: validate → mask → submit exactly once → answer."""

from collections import Counter
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, HTTPException, Request, Response, status
from fastapi.exceptions import RequestValidationError
from pydantic import TypeAdapter, ValidationError
from pydantic_core import to_json

from services.ingest import metrics
from services.ingest.config import IngestSettings
from services.ingest.ratelimit import TokenBuckets
from services.ingest.records import (
    Submission,
    email_to_feedback,
    event_submission,
    feedback_submission,
    transcript_to_feedback,
)
from services.ingest.schemas import (
    BatchResult,
    CallTranscriptIn,
    EmailWebhookIn,
    EventAccepted,
    EventIn,
    FeedbackAccepted,
    FeedbackBatchIn,
    FeedbackIn,
)
from services.ingest.service import Ingestor, Result, Unavailable
from services.ingest.store import RecordStore
from shared.errors import field_path
from shared.security import require_client
from shared.service import Runtime

CONFLICT_DOC = {"description": "Same external_id already accepted with a different payload"}
UNAVAILABLE_DOC = {"description": "Broker or database unavailable; retry after Retry-After seconds"}


def ingest_router(settings: IngestSettings) -> APIRouter:
    authenticated = require_client(lambda: settings.api_keys)
    buckets = TokenBuckets(settings.rate_limit_per_s, settings.rate_limit_burst)

    async def client(name: Annotated[str, Depends(authenticated)]) -> str:
        wait = buckets.take(name)
        if wait > 0:
            metrics.REJECTIONS.labels("rate_limited").inc()
            raise HTTPException(
                status.HTTP_429_TOO_MANY_REQUESTS,
                f"rate limit of {settings.rate_limit_per_s:g} requests/s exceeded",
                headers={"Retry-After": str(max(1, round(wait + 0.5)))},
            )
        return name

    stores: dict[int, RecordStore] = {}

    async def ingestor(request: Request) -> Ingestor:
        runtime: Runtime = request.app.state.runtime
        # One store (and so one group-commit queue) per running database.
        store = stores.get(id(runtime.database))
        if store is None:
            store = stores[id(runtime.database)] = RecordStore(runtime.database)
        return Ingestor(store, runtime.producer, settings.kafka.topic_suffix)

    Client = Annotated[str, Depends(client)]  # noqa: N806 - a type alias
    IngestorDep = Annotated[Ingestor, Depends(ingestor)]  # noqa: N806 - a type alias
    router = APIRouter(prefix="/v1", tags=["ingest"])
    responses: dict[int | str, dict[str, Any]] = {409: CONFLICT_DOC, 503: UNAVAILABLE_DOC}

    async def submit_one(ingest: Ingestor, who: str, sub: Submission) -> Result:
        try:
            [result] = await ingest.submit(who, [sub])
        except Unavailable as exc:
            metrics.REJECTIONS.labels(f"{exc.dependency}_unavailable").inc()
            raise HTTPException(503, str(exc), headers={"Retry-After": "5"}) from exc
        metrics.RECORDS.labels(sub.kind, sub.channel, result.status).inc()
        if result.status == "accepted":
            for kind, count in sub.pii_masked.items():
                metrics.PII_MASKED.labels(kind).inc(count)
        return result

    def answer(result: Result, response: Response, id_field: str) -> dict[str, Any]:
        if result.status == "conflict":
            raise HTTPException(
                409,
                {
                    "message": "external_id already used with a different payload",
                    id_field: str(result.record_id),
                },
            )
        response.status_code = 202 if result.status == "accepted" else 200
        return {id_field: result.record_id, "status": result.status}

    @router.post("/feedback", status_code=202, responses={200: {"model": FeedbackAccepted}, **responses})
    async def post_feedback(
        item: FeedbackIn, who: Client, ingest: IngestorDep, response: Response
    ) -> FeedbackAccepted:
        """Accept one feedback record: 202 once Kafka acknowledged it, 200 for a repeat."""
        result = await submit_one(ingest, who, feedback_submission(who, item, settings.pii_kinds))
        return FeedbackAccepted.model_validate(answer(result, response, "feedback_id"))

    @router.post("/feedback/batch", response_model=BatchResult)
    async def post_feedback_batch(batch: FeedbackBatchIn, who: Client, ingest: IngestorDep) -> Response:
        """Up to 1,000 records, each accepted, duplicate, conflict or rejected on its own."""
        metrics.BATCH_SIZE.observe(len(batch.records))
        valid, rejected = _validate_records(batch.records)
        subs = [(index, feedback_submission(who, item, settings.pii_kinds)) for index, item in valid]
        try:
            results = await ingest.submit(who, [sub for _, sub in subs])
        except Unavailable as exc:
            metrics.REJECTIONS.labels(f"{exc.dependency}_unavailable").inc()
            raise HTTPException(503, str(exc), headers={"Retry-After": "5"}) from exc
        outcomes: Counter[tuple[str, str, str]] = Counter()
        items: list[dict[str, Any]] = list(rejected)
        for (index, sub), result in zip(subs, results, strict=True):
            outcomes[(sub.kind, sub.channel, result.status)] += 1
            items.append(
                {
                    "index": index,
                    "external_id": sub.external_id,
                    "status": result.status,
                    "feedback_id": result.record_id,
                    "errors": [],
                }
            )
        if rejected:
            outcomes[("feedback", "unknown", "rejected")] += len(rejected)
        for labels, count in outcomes.items():
            metrics.RECORDS.labels(*labels).inc(count)
        items.sort(key=lambda r: int(r["index"]))
        counts = Counter(str(r["status"]) for r in items)
        body = {s: counts.get(s, 0) for s in ("accepted", "duplicate", "conflict", "rejected")}
        return Response(to_json({**body, "results": items}), media_type="application/json")

    @router.post("/events", status_code=202, responses={200: {"model": EventAccepted}, **responses})
    async def post_event(
        event: Annotated[EventIn, Body(discriminator="type")],
        who: Client,
        ingest: IngestorDep,
        response: Response,
    ) -> EventAccepted:
        """A business event for loyalty: purchase, refund, referral or survey_completed."""
        result = await submit_one(ingest, who, event_submission(who, event))
        return EventAccepted.model_validate(answer(result, response, "event_id"))

    @router.post("/adapters/email", status_code=202, responses=responses, tags=["channel adapters"])
    async def post_email(
        mail: EmailWebhookIn, who: Client, ingest: IngestorDep, response: Response
    ) -> FeedbackAccepted:
        """An inbound e-mail (from, subject, body) as feedback on the email channel."""
        item = adapted(
            lambda: email_to_feedback(mail, settings.pseudonym_key.get_secret_value()),
            {"text": "body", "occurred_at": "received_at"},
        )
        result = await submit_one(ingest, who, feedback_submission(who, item, settings.pii_kinds))
        return FeedbackAccepted.model_validate(answer(result, response, "feedback_id"))

    @router.post("/adapters/call-transcript", status_code=202, responses=responses, tags=["channel adapters"])
    async def post_transcript(
        call: CallTranscriptIn, who: Client, ingest: IngestorDep, response: Response
    ) -> FeedbackAccepted:
        """A call-centre transcript: the customer's segments become the feedback text (phone channel)."""
        item = adapted(
            lambda: transcript_to_feedback(call), {"text": "segments", "occurred_at": "started_at"}
        )
        result = await submit_one(ingest, who, feedback_submission(who, item, settings.pii_kinds))
        return FeedbackAccepted.model_validate(answer(result, response, "feedback_id"))

    return router


_RECORDS = TypeAdapter(list[FeedbackIn])


def adapted(convert: Callable[[], FeedbackIn], fields: dict[str, str]) -> FeedbackIn:
    """An adapter's input turned into feedback; what feedback refuses (no text and no score, a time in the
    future) is a 422 naming the adapter's own field, not a 500."""
    try:
        return convert()
    except ValidationError as exc:
        errors = [
            {**e, "loc": ("body", *(fields.get(str(part), part) for part in e["loc"]))} for e in exc.errors()
        ]
        raise RequestValidationError(errors) from exc


def _validate_records(
    records: list[dict[str, Any]],
) -> tuple[list[tuple[int, FeedbackIn]], list[dict[str, Any]]]:
    """Valid records with their index, and a rejection (with field errors) for each invalid one.

    The whole list is validated in one pass first (the common case); only when something is invalid
    is each record validated on its own to find out which.
    """
    try:
        return list(enumerate(_RECORDS.validate_python(records))), []
    except ValidationError:
        pass
    valid, rejected = [], []
    for index, raw in enumerate(records):
        try:
            valid.append((index, FeedbackIn.model_validate(raw)))
        except ValidationError as exc:
            errors = [{"field": field_path(tuple(e["loc"])), "message": e["msg"]} for e in exc.errors()]
            rejected.append(
                {
                    "index": index,
                    "external_id": _external_id(raw),
                    "status": "rejected",
                    "feedback_id": None,
                    "errors": errors,
                }
            )
    return valid, rejected


def _external_id(raw: Any) -> str | None:
    value = raw.get("external_id") if isinstance(raw, dict) else None
    return value if isinstance(value, str) else None
