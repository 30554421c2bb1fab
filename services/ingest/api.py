"""Ingest routes: validate → mask → submit exactly once → answer."""

from collections import Counter
from collections.abc import Callable
from typing import Annotated, Any, NamedTuple

from fastapi import APIRouter, Body, Depends, HTTPException, Request, Response, Security, status
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from pydantic_core import to_json

from services.ingest import metrics
from services.ingest.config import IngestSettings
from services.ingest.direct import direct_route, is_json, refuse_nul
from services.ingest.pii import Masking
from services.ingest.prepare import Preparer, prepare_single
from services.ingest.ratelimit import TokenBuckets
from services.ingest.records import (
    Lot,
    email_to_feedback,
    event_submission,
    feedback_submission,
    single_lot,
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
from services.ingest.service import Ingestor, Outcome, Status, Unavailable
from services.ingest.store import RecordStore
from shared.security import API_KEY_HEADER, authenticate
from shared.service import Runtime


class Result(NamedTuple):
    status: Status
    record_id: str


CONFLICT_DOC = {"description": "Same external_id already accepted with a different payload"}
UNAVAILABLE_DOC = {"description": "Broker or database unavailable; retry after Retry-After seconds"}


def ingest_router(  # noqa: C901, PLR0915 - a router factory still; it is split like the others next
    settings: IngestSettings, preparer: Preparer | None = None
) -> APIRouter:
    """`preparer`: where batch bodies are validated, masked and serialized (default: in-process)."""
    preparer = preparer or Preparer(0)
    buckets = TokenBuckets(settings.rate_limit_per_s, settings.rate_limit_burst)
    masking = Masking(frozenset(settings.pii_kinds), settings.pseudonym_key.get_secret_value().encode())

    def admitted(request: Request, presented: str | None) -> str:
        """The calling client's name: 401 without a valid key, 429 over its rate or while its address is
        locked out for wrong keys (shared.security)."""
        name = authenticate(request, settings.api_keys, presented)
        wait = buckets.take(name)
        if wait > 0:
            metrics.REJECTIONS.labels("rate_limited").inc()
            raise HTTPException(
                status.HTTP_429_TOO_MANY_REQUESTS,
                f"rate limit of {settings.rate_limit_per_s:g} requests/s exceeded",
                headers={"Retry-After": str(max(1, round(wait + 0.5)))},
            )
        return name

    async def client(request: Request, presented: Annotated[str | None, Security(API_KEY_HEADER)]) -> str:
        return admitted(request, presented)

    ingestors: dict[int, Ingestor] = {}

    async def ingestor(request: Request) -> Ingestor:
        return ingestor_of(request)

    Client = Annotated[str, Depends(client)]  # noqa: N806 - a type alias
    IngestorDep = Annotated[Ingestor, Depends(ingestor)]  # noqa: N806 - a type alias
    router = APIRouter(prefix="/v1", tags=["ingest"])
    responses: dict[int | str, dict[str, Any]] = {409: CONFLICT_DOC, 503: UNAVAILABLE_DOC}

    async def submit(ingest: Ingestor, who: str, lot: Lot) -> Outcome:
        try:
            return await ingest.submit(who, lot)
        except Unavailable as exc:
            metrics.REJECTIONS.labels(f"{exc.dependency}_unavailable").inc()
            raise HTTPException(503, str(exc), headers={"Retry-After": "5"}) from exc

    counted: dict[tuple[str, str, str], Any] = {}
    """RECORDS children by (kind, channel, status): `labels()` takes a lock each call."""

    async def submit_one(ingest: Ingestor, who: str, lot: Lot) -> Result:
        """Submit a one-record lot and count its outcome."""
        outcome = await submit(ingest, who, lot)
        result = Result(outcome.status(0), outcome.ids[0])
        labels = (lot.kind, lot.channels[0], result.status)
        child = counted.get(labels)
        if child is None:
            child = counted[labels] = metrics.RECORDS.labels(*labels)
        child.inc()
        if result.status == "accepted":
            for kind, count in lot.pii_masked[0].items():
                metrics.PII_MASKED.labels(kind).inc(count)
        return result

    def answered(result: Result, id_field: str) -> tuple[int, dict[str, Any]]:
        """(status code, body) for one record's outcome; a conflict is a 409."""
        if result.status == "conflict":
            raise HTTPException(
                409,
                {"message": "external_id already used with a different payload", id_field: result.record_id},
            )
        code = 202 if result.status == "accepted" else 200
        return code, {id_field: result.record_id, "status": result.status}

    def answer(result: Result, response: Response, id_field: str) -> dict[str, Any]:
        response.status_code, body = answered(result, id_field)
        return body

    def admit(request: Request) -> str:
        return admitted(request, request.headers.get("x-api-key"))

    def ingestor_of(request: Request) -> Ingestor:
        runtime: Runtime = request.scope["app"].state.runtime
        # One per running service: requests are grouped across the whole process.
        ingestor = ingestors.get(id(runtime))
        if ingestor is None:
            store = RecordStore(runtime.database)
            ingestor = ingestors[id(runtime)] = Ingestor(
                store, runtime.producer, settings.kafka.topic_suffix, settings.database_timeout_s
            )
        return ingestor

    async def feedback_handler(request: Request) -> Response:
        who = admit(request)
        json_body = is_json(request.headers.get("content-type"))
        lot = prepare_single(who, await request.body(), json_body, masking)
        result = await submit_one(ingestor_of(request), who, lot)
        code, body = answered(result, "feedback_id")
        return Response(to_json(body), status_code=code, media_type="application/json")

    async def batch_handler(request: Request) -> Response:
        who = admit(request)
        json_body = is_json(request.headers.get("content-type"))
        lot, indices, rejected = await preparer.prepare(who, await request.body(), json_body, masking)
        metrics.BATCH_SIZE.observe(lot.size + len(rejected))
        outcome = await submit(ingestor_of(request), who, lot)
        items: list[dict[str, Any]] = [
            {
                "index": index,
                "external_id": name,
                "status": outcome.status(i),
                "feedback_id": record_id,
                "errors": [],
            }
            for i, (index, name, record_id) in enumerate(
                zip(indices, lot.external_ids, outcome.ids, strict=True)
            )
        ]
        statuses: list[str] = list(outcome.statuses or ["accepted"] * lot.size)
        outcomes: Counter[tuple[str, str]] = Counter(zip(lot.channels, statuses, strict=True))
        masked: Counter[str] = Counter()
        for counts, outcome_name in zip(lot.pii_masked, statuses, strict=True):
            if counts and outcome_name == "accepted":
                masked.update(counts)
        if rejected:
            items = sorted(items + rejected, key=lambda r: r["index"])
            outcomes[("unknown", "rejected")] += len(rejected)
        for (channel, outcome_name), count in outcomes.items():
            metrics.RECORDS.labels("feedback", channel, outcome_name).inc(count)
        for kind, count in masked.items():
            metrics.PII_MASKED.labels(kind).inc(count)
        body = dict.fromkeys(("accepted", "duplicate", "conflict", "rejected"), 0)
        for (_, outcome_name), count in outcomes.items():
            body[outcome_name] += count
        return Response(to_json({**body, "results": items}), media_type="application/json")

    # Documented by these signatures; served by the direct handlers above (see services.ingest.direct).
    async def post_feedback(item: FeedbackIn, who: Client) -> FeedbackAccepted:
        """Accept one feedback record: 202 once Kafka acknowledged it, 200 for a repeat."""
        raise NotImplementedError  # pragma: no cover - requests run feedback_handler

    async def post_feedback_batch(batch: FeedbackBatchIn, who: Client) -> BatchResult:
        """Up to 1,000 records, each accepted, duplicate, conflict or rejected on its own."""
        raise NotImplementedError  # pragma: no cover - requests run batch_handler

    router.add_api_route(
        "/feedback",
        post_feedback,
        methods=["POST"],
        status_code=202,
        responses={200: {"model": FeedbackAccepted}, **responses},
        route_class_override=direct_route(feedback_handler),
    )
    router.add_api_route(
        "/feedback/batch",
        post_feedback_batch,
        methods=["POST"],
        response_model=BatchResult,
        responses={503: UNAVAILABLE_DOC},
        route_class_override=direct_route(batch_handler),
    )

    @router.post("/events", status_code=202, responses={200: {"model": EventAccepted}, **responses})
    async def post_event(
        event: Annotated[EventIn, Body(discriminator="type")],
        who: Client,
        ingest: IngestorDep,
        response: Response,
    ) -> EventAccepted:
        """A business event for loyalty: purchase, refund, referral or survey_completed."""
        refuse_nul(event)
        result = await submit_one(ingest, who, single_lot(event_submission(who, event, masking)))
        return EventAccepted.model_validate(answer(result, response, "event_id"))

    @router.post(
        "/adapters/email",
        status_code=202,
        responses={200: {"model": FeedbackAccepted}, **responses},
        tags=["channel adapters"],
    )
    async def post_email(
        mail: EmailWebhookIn, who: Client, ingest: IngestorDep, response: Response
    ) -> FeedbackAccepted:
        """An inbound e-mail (from, subject, body) as feedback on the email channel."""
        refuse_nul(mail)
        item = adapted(
            lambda: email_to_feedback(mail, settings.pseudonym_key.get_secret_value()),
            {"text": "body", "occurred_at": "received_at"},
        )
        result = await submit_one(ingest, who, single_lot(feedback_submission(who, item, masking)))
        return FeedbackAccepted.model_validate(answer(result, response, "feedback_id"))

    @router.post(
        "/adapters/call-transcript",
        status_code=202,
        responses={200: {"model": FeedbackAccepted}, **responses},
        tags=["channel adapters"],
    )
    async def post_transcript(
        call: CallTranscriptIn, who: Client, ingest: IngestorDep, response: Response
    ) -> FeedbackAccepted:
        """A call-centre transcript: the customer's segments become the feedback text (phone channel)."""
        refuse_nul(call)
        item = adapted(
            lambda: transcript_to_feedback(call), {"text": "segments", "occurred_at": "started_at"}
        )
        result = await submit_one(ingest, who, single_lot(feedback_submission(who, item, masking)))
        return FeedbackAccepted.model_validate(answer(result, response, "feedback_id"))

    return router


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
