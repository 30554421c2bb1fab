"""Ingest routes: validate → mask → submit exactly once → answer."""

from collections import Counter
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, HTTPException, Request, Response, Security
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from pydantic_core import to_json

from services.ingest import metrics
from services.ingest.batches import prepare_single
from services.ingest.direct_routes import direct_route, is_json, refuse_nul
from services.ingest.encode import (
    Lot,
    email_to_feedback,
    event_submission,
    feedback_submission,
    single_lot,
    transcript_to_feedback,
)
from services.ingest.gate import IngestState, Result
from services.ingest.publish import Ingestor
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
from shared.openapi import error_response
from shared.security import API_KEY_HEADER

CONFLICT_DOC = error_response("Same external_id already accepted with a different payload")
UNAVAILABLE_DOC = error_response(
    "Broker or database unavailable; retry after Retry-After seconds", retry_after=True
)
RESPONSES: dict[int | str, dict[str, Any]] = {409: CONFLICT_DOC, 503: UNAVAILABLE_DOC}
ADAPTER: dict[str, Any] = {
    "status_code": 202,
    "responses": {200: {"model": FeedbackAccepted}, **RESPONSES},
    "tags": ["channel adapters"],
}
"""What the channel adapters' routes declare: an adapter's input is one feedback record."""

router = APIRouter(prefix="/v1", tags=["ingest"])


def ingest_state(request: Request) -> IngestState:
    state: IngestState = request.app.state.ingest
    return state


async def client(request: Request, presented: Annotated[str | None, Security(API_KEY_HEADER)]) -> str:
    return ingest_state(request).admitted(request, presented)


async def ingestor(request: Request) -> Ingestor:
    return ingest_state(request).ingestor(request)


Client = Annotated[str, Depends(client)]
IngestorDep = Annotated[Ingestor, Depends(ingestor)]
StateDep = Annotated[IngestState, Depends(ingest_state)]


def answered(result: Result, id_field: str) -> tuple[int, dict[str, Any]]:
    """(status code, body) for one record's outcome; a conflict is a 409."""
    if result.status == "conflict":
        raise HTTPException(
            409, {"message": "external_id already used with a different payload", id_field: result.record_id}
        )
    code = 202 if result.status == "accepted" else 200
    return code, {id_field: result.record_id, "status": result.status}


def answer(result: Result, response: Response, id_field: str) -> dict[str, Any]:
    response.status_code, body = answered(result, id_field)
    return body


async def post_feedback(request: Request) -> Response:
    """Accept one feedback record: 202 once Kafka acknowledged it, 200 for a repeat."""
    state = ingest_state(request)
    who = state.admitted(request, request.headers.get("x-api-key"))
    json_body = is_json(request.headers.get("content-type"))
    lot = prepare_single(who, await request.body(), json_body, state.masking)
    result = await state.submit_one(state.ingestor(request), who, lot)
    code, body = answered(result, "feedback_id")
    return Response(to_json(body), status_code=code, media_type="application/json")


async def post_feedback_batch(request: Request) -> Response:
    """Up to 1,000 records, each accepted, duplicate, conflict or rejected on its own."""
    state = ingest_state(request)
    who = state.admitted(request, request.headers.get("x-api-key"))
    json_body = is_json(request.headers.get("content-type"))
    lot, indices, rejected = await state.preparer.prepare(who, await request.body(), json_body, state.masking)
    metrics.BATCH_SIZE.observe(lot.size + len(rejected))
    outcome = await state.submit(state.ingestor(request), who, lot)
    items: list[dict[str, Any]] = [
        {
            "index": index,
            "external_id": name,
            "status": outcome.status(i),
            "feedback_id": record_id,
            "errors": [],
        }
        for i, (index, name, record_id) in enumerate(zip(indices, lot.external_ids, outcome.ids, strict=True))
    ]
    statuses: list[str] = list(outcome.statuses or ["accepted"] * lot.size)
    outcomes: Counter[tuple[str, str]] = Counter(zip(lot.channels, statuses, strict=True))
    if rejected:
        items = sorted(items + rejected, key=lambda r: r["index"])
        outcomes[("unknown", "rejected")] += len(rejected)
    _count_batch(lot, statuses, outcomes)
    body = dict.fromkeys(("accepted", "duplicate", "conflict", "rejected"), 0)
    for (_, outcome_name), count in outcomes.items():
        body[outcome_name] += count
    return Response(to_json({**body, "results": items}), media_type="application/json")


def _count_batch(lot: Lot, statuses: list[str], outcomes: Counter[tuple[str, str]]) -> None:
    masked: Counter[str] = Counter()
    for counts, outcome_name in zip(lot.pii_masked, statuses, strict=True):
        if counts and outcome_name == "accepted":
            masked.update(counts)
    for (channel, outcome_name), count in outcomes.items():
        metrics.RECORDS.labels("feedback", channel, outcome_name).inc(count)
    for kind, count in masked.items():
        metrics.PII_MASKED.labels(kind).inc(count)


router.add_api_route(
    "/feedback",
    post_feedback,
    methods=["POST"],
    status_code=202,
    response_model=None,
    responses={202: {"model": FeedbackAccepted}, 200: {"model": FeedbackAccepted}, **RESPONSES},
    route_class_override=direct_route(FeedbackIn),
)
router.add_api_route(
    "/feedback/batch",
    post_feedback_batch,
    methods=["POST"],
    response_model=None,
    responses={200: {"model": BatchResult}, 503: UNAVAILABLE_DOC},
    route_class_override=direct_route(FeedbackBatchIn),
)


@router.post("/events", status_code=202, responses={200: {"model": EventAccepted}, **RESPONSES})
async def post_event(
    event: Annotated[EventIn, Body(discriminator="type")],
    who: Client,
    ingest: IngestorDep,
    state: StateDep,
    response: Response,
) -> EventAccepted:
    """A business event: purchase, refund, referral or survey_completed (loyalty's points and tiers,
    alerting's commerce rules)."""
    refuse_nul(event)
    result = await state.submit_one(ingest, who, single_lot(event_submission(who, event, state.masking)))
    return EventAccepted.model_validate(answer(result, response, "event_id"))


@router.post("/adapters/email", **ADAPTER)
async def post_email(
    mail: EmailWebhookIn, who: Client, ingest: IngestorDep, state: StateDep, response: Response
) -> FeedbackAccepted:
    """An inbound e-mail (from, subject, body) as feedback on the email channel."""
    refuse_nul(mail)
    key = state.settings.pseudonym_key.get_secret_value()
    item = adapted(lambda: email_to_feedback(mail, key), {"text": "body", "occurred_at": "received_at"})
    return await _accept(state, ingest, who, item, response)


@router.post("/adapters/call-transcript", **ADAPTER)
async def post_transcript(
    call: CallTranscriptIn, who: Client, ingest: IngestorDep, state: StateDep, response: Response
) -> FeedbackAccepted:
    """A call-centre transcript: the customer's segments become the feedback text (phone channel)."""
    refuse_nul(call)
    item = adapted(lambda: transcript_to_feedback(call), {"text": "segments", "occurred_at": "started_at"})
    return await _accept(state, ingest, who, item, response)


async def _accept(
    state: IngestState, ingest: Ingestor, who: str, item: FeedbackIn, response: Response
) -> FeedbackAccepted:
    """An adapter's feedback submitted as one record."""
    result = await state.submit_one(ingest, who, single_lot(feedback_submission(who, item, state.masking)))
    return FeedbackAccepted.model_validate(answer(result, response, "feedback_id"))


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
