"""Alerts, silences and rules over HTTP (the operator key or a console session; every action audited)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from fastapi.responses import JSONResponse

from services.alerting.evaluation.state import AlertingState
from services.alerting.http import queries
from services.alerting.http.deps import StateDep
from services.alerting.http.schemas import (
    Action,
    AlertDetail,
    AlertOut,
    AlertPage,
    CallbackOut,
    CallbackPage,
    CallbackResult,
    Level,
    MuteWindowOut,
    OnCallNow,
    OnCallOut,
    RulesOut,
    SilenceCreate,
    SilenceCreated,
    SilenceDeleted,
    SilenceOut,
    Status,
    Validation,
)
from services.alerting.http.session import actor_of, operator_or_session
from services.alerting.lifecycle import callbacks
from services.alerting.lifecycle.escalation import next_handoff, on_call
from services.alerting.lifecycle.mute import describe, muted_until
from services.alerting.metrics import TIME_TO_ACK
from services.alerting.rules import AlertingConfig
from shared.contracts.bounds import Timestamp
from shared.contracts.registry import ALERTS
from shared.errors import read_body
from shared.params import NO_NUL_SCHEMA, StorableText, in_utc
from shared.service import RuntimeDep
from shared.yamlconfig import ConfigError, ConfigTooComplex, parse_yaml

__all__ = ["Action", "SilenceCreate", "router"]

RULES_MAX_BYTES = 256 * 1024
"""A rules file to validate: the service's own is a few KiB; parsing takes CPU time per byte."""
RULES_BODY = {
    "requestBody": {
        "required": True,
        "content": {"application/yaml": {"schema": {"type": "string", "maxLength": RULES_MAX_BYTES}}},
    }
}
Label = Annotated[str | None, Query(max_length=200, json_schema_extra=NO_NUL_SCHEMA), StorableText]
CURSOR_SCHEMA: dict[str, Any] = {"format": "alert-cursor", "pattern": "^[A-Za-z0-9_-]*={0,2}$"}
"""What the OpenAPI document says of a cursor: URL-safe base64, and a format of its own, since only a
`next_cursor` this API gave decodes to a position (tests/openapi_fuzz.py generates such cursors)."""
PARSING = asyncio.Semaphore(2)
"""Rules files parsed at once: each holds a worker thread (and the GIL) for its parse."""


router = APIRouter(prefix="/v1", tags=["alerting"], dependencies=[Depends(operator_or_session)])


def _cursor(alert: AlertOut) -> str:
    return _position(alert.created_at, alert.id)


def _position(at: datetime, row_id: uuid.UUID) -> str:
    return base64.urlsafe_b64encode(f"{at.isoformat()}|{row_id}".encode()).decode()


def _after(cursor: str) -> tuple[datetime, uuid.UUID]:
    """The (created_at, id) a `next_cursor` names; 422 naming `cursor` for anything else."""
    try:
        at, alert_id = base64.urlsafe_b64decode(cursor.encode()).decode().split("|")
        since = datetime.fromisoformat(at)
        if since.utcoffset() is None:
            raise ValueError("no UTC offset")
        return in_utc(since), uuid.UUID(alert_id)  # in_utc: a time past the calendar once in UTC
    except ValueError as exc:
        wrong = [{"field": "cursor", "message": "not a cursor from this API"}]
        raise HTTPException(422, detail=wrong) from exc


def _etag(body: dict[str, Any]) -> str:
    digest = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()
    return f'"{digest[:32]}"'


@router.get("/alerts", response_model=AlertPage, responses={304: {"description": "Unchanged since the ETag"}})
async def list_alerts(
    request: Request,
    runtime: RuntimeDep,
    state: StateDep,
    status: Annotated[
        list[Status] | None, Query(description="repeat for several, e.g. status=open&status=acknowledged")
    ] = None,
    level: Level | None = None,
    rule: Label = None,
    group: Annotated[Label, Query(description="e.g. business_line=retail")] = None,
    customer: Annotated[Label, Query(description="alerts about this customer_id")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, Query(max_length=200, json_schema_extra=CURSOR_SCHEMA)] = None,
) -> Response:
    """Newest first; pass `next_cursor` back as `cursor` for the next page. Carries an `ETag`: send it
    back as `If-None-Match` to poll cheaply (304 while nothing changed); `X-Server-Now` is the service
    clock, which ages and escalation countdowns are measured against."""
    where = queries.AlertFilter(status, level, rule, group, customer)
    after = _after(cursor) if cursor else None
    async with runtime.database.connection() as conn:
        rows, more = await queries.alert_page(conn, where, after, limit)
    page = [queries.alert_out(r) for r in rows]
    body = {
        "alerts": [a.model_dump(mode="json") for a in page],
        "next_cursor": _cursor(page[-1]) if more else None,
    }
    now = state.clock().isoformat()
    headers = {"ETag": _etag(body), "Cache-Control": "no-cache", "X-Server-Now": now}
    if request.headers.get("if-none-match") == headers["ETag"]:
        return Response(status_code=304, headers=headers)
    return JSONResponse(body | {"now": now}, headers=headers)


@router.get("/alerts/{alert_id}")
async def get_alert(alert_id: uuid.UUID, runtime: RuntimeDep, state: StateDep) -> AlertDetail:
    """The alert with its timeline (fired, escalated, notified, acknowledged, resolved), deliveries and
    the tier of its customer (as alerting last heard it from loyalty)."""
    async with runtime.database.connection() as conn:
        try:
            row = await queries.alert_row(conn, alert_id)
        except queries.NotFound as exc:
            raise HTTPException(404, detail=str(exc)) from exc
        events, sent, tier = await queries.alert_history(conn, row)
    alert = queries.alert_out(row)
    return AlertDetail(
        **alert.model_dump(), now=state.clock(), member_tier=tier, timeline=events, deliveries=sent
    )


async def _act(
    request: Request,
    runtime: RuntimeDep,
    state: AlertingState,
    alert_id: uuid.UUID,
    action: Action,
    kind: Literal["acknowledged", "resolved"],
) -> AlertOut:
    now, actor = state.clock(), actor_of(request, action.actor)
    topic = ALERTS.name + runtime.settings.kafka.topic_suffix
    async with runtime.database.connection() as conn:
        try:
            before, after = await queries.act(
                conn, alert_id, kind, actor, action.note, now, topic, state.config()
            )
        except queries.NotFound as exc:
            raise HTTPException(404, detail=str(exc)) from exc
        except queries.AlreadyResolved as exc:
            raise HTTPException(409, detail=str(exc)) from exc
    if kind == "acknowledged" and before is not after:
        TIME_TO_ACK.observe((now - before.created_at).total_seconds())
    return queries.alert_out(after)


@router.post("/alerts/{alert_id}/ack")
async def ack(
    request: Request, alert_id: uuid.UUID, action: Action, runtime: RuntimeDep, state: StateDep
) -> AlertOut:
    """Stops escalation; reminders follow every 24 h until resolved or the ack times out."""
    return await _act(request, runtime, state, alert_id, action, "acknowledged")


@router.post("/alerts/{alert_id}/resolve")
async def resolve_alert(
    request: Request, alert_id: uuid.UUID, action: Action, runtime: RuntimeDep, state: StateDep
) -> AlertOut:
    return await _act(request, runtime, state, alert_id, action, "resolved")


@router.get("/silences")
async def list_silences(runtime: RuntimeDep) -> list[SilenceOut]:
    async with runtime.database.connection() as conn:
        return await queries.active_silences(conn)


@router.post("/silences", status_code=201)
async def create_silence(
    request: Request, body: SilenceCreate, runtime: RuntimeDep, state: StateDep
) -> SilenceCreated:
    """Silences the alerts its matchers match from `starts_at` (default: now) to `ends_at`. A matcher
    `{name, value}` holds when the alert's label `name` (rule, level or a group dimension) equals
    `value`; a label the alert lacks counts as empty. Every matcher must hold; at least one must have
    a non-empty value (matchers that all match the empty string are refused, as in Alertmanager)."""
    starts = body.starts_at or state.clock()
    if body.ends_at <= starts:
        raise HTTPException(422, detail=[{"field": "ends_at", "message": "must be after starts_at"}])
    async with runtime.database.connection() as conn:
        silence_id = await queries.create_silence(conn, body, starts, actor_of(request, body.created_by))
    return SilenceCreated(id=silence_id)


@router.delete("/silences/{silence_id}")
async def delete_silence(
    request: Request,
    silence_id: uuid.UUID,
    actor: Annotated[str, Query(min_length=1, max_length=200, json_schema_extra=NO_NUL_SCHEMA), StorableText],
    runtime: RuntimeDep,
) -> SilenceDeleted:
    async with runtime.database.connection() as conn:
        try:
            await queries.delete_silence(conn, silence_id, actor_of(request, actor))
        except queries.NotFound as exc:
            raise HTTPException(404, detail=str(exc)) from exc
    return SilenceDeleted(id=silence_id, status="deleted")


@router.get("/rules")
async def rules(state: StateDep) -> RulesOut:
    """The rules and policies in force."""
    config = state.config()
    return RulesOut(rules=config.rules, policies=config.policies)


@router.get("/oncall")
async def oncall(
    state: StateDep,
    at: Annotated[Timestamp | None, Query(description="ISO 8601 with offset; default now")] = None,
) -> OnCallNow:
    """Who is on call now (or `at`) on each schedule, until when, and who is next."""
    try:
        when = in_utc(at) if at is not None else state.clock()
    except ValueError as exc:
        raise HTTPException(422, detail=[{"field": "at", "message": str(exc)}]) from exc
    schedules = []
    for name, rotation in state.config().schedules.items():
        until, following = next_handoff(rotation, when)
        now = on_call(rotation, when)
        schedules.append(
            OnCallOut(schedule=name, time_zone=rotation.time_zone, now=now, until=until, next=following)
        )
    return OnCallNow(at=when, schedules=schedules, mute_windows=mute_windows(state.config(), when))


def mute_windows(config: AlertingConfig, at: datetime) -> list[MuteWindowOut]:
    """Every named time interval: its entries, whether it mutes pages at `at` (until when), and the policy
    steps and targets that name it."""
    users: dict[str, list[str]] = {name: [] for name in config.time_intervals}
    for policy_name, policy in config.policies.items():
        for step in policy.steps:
            for name in step.mute_time_intervals:
                users[name].append(f"{policy_name} {step.level}")
            for target in step.targets:
                for name in target.mute_time_intervals:
                    users[name].append(f"{policy_name} {step.level} → {target.name}")
    return [
        MuteWindowOut(
            name=name,
            entries=[describe(entry) for entry in entries],
            muted_until=muted_until(entries, at),
            used_by=users[name],
        )
        for name, entries in config.time_intervals.items()
    ]


@router.post(
    "/rules/validate",
    openapi_extra=RULES_BODY,
    response_model_exclude_none=True,
)
async def validate(request: Request) -> Validation:
    """Validates a rules file (send it as the body, UTF-8, at most 256 KiB) without loading it: 200 with
    `valid` and the problems by line and field; 422 for a file nested deeper than 50 levels."""
    body = await read_body(request, RULES_MAX_BYTES, "alerting")
    try:
        text = body.decode()
    except UnicodeDecodeError as exc:
        raise HTTPException(422, detail=[{"field": "body", "message": f"not UTF-8: {exc}"}]) from exc
    try:
        async with PARSING:  # in a worker thread: CPU-bound for long enough to stall every request
            config = await asyncio.to_thread(parse_yaml, text, AlertingConfig, "rules")
    except ConfigTooComplex as exc:
        raise HTTPException(422, detail=[{"field": "body", "message": str(exc)}]) from exc
    except ConfigError as exc:
        return Validation(valid=False, errors=str(exc).splitlines())
    return Validation(valid=True, rules=len(config.rules), policies=sorted(config.policies))


@router.get("/callbacks")
async def list_callbacks(
    runtime: RuntimeDep,
    state: StateDep,
    which: Annotated[
        callbacks.Filter,
        Query(
            alias="state",
            description="open: not done, soonest due first; overdue: open and past due; done: latest first",
        ),
    ] = "open",
    customer: Annotated[Label, Query(description="callbacks to this customer_id")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, Query(max_length=200, json_schema_extra=CURSOR_SCHEMA)] = None,
) -> CallbackPage:
    """Callbacks (回访) scheduled when cases about a customer were resolved (72 h after, 48 h for gold and
    diamond members by default: `callbacks` in the rules file)."""
    now = state.clock()
    after = _after(cursor) if cursor else None
    async with runtime.database.connection() as conn:
        rows, more = await callbacks.callback_page(conn, which, customer, after, limit, now)
    page = [callbacks.callback_out(r, now) for r in rows]
    last = page[-1] if page else None
    next_cursor = None
    if more and last is not None:
        at = last.done_at if which == "done" and last.done_at is not None else last.due_at
        next_cursor = _position(at, last.id)
    return CallbackPage(callbacks=page, next_cursor=next_cursor)


@router.get("/callbacks/{callback_id}")
async def get_callback(callback_id: uuid.UUID, runtime: RuntimeDep, state: StateDep) -> CallbackOut:
    async with runtime.database.connection() as conn:
        try:
            row = await callbacks.callback_row(conn, callback_id)
        except callbacks.NotFound as exc:
            raise HTTPException(404, detail=str(exc)) from exc
    return callbacks.callback_out(row, state.clock())


@router.post("/callbacks/{callback_id}/result")
async def record_callback(
    request: Request, callback_id: uuid.UUID, result: CallbackResult, runtime: RuntimeDep, state: StateDep
) -> CallbackOut:
    """The customer's answer on the callback (NPS 0–10 and a note), once: an answer below
    `callbacks.review_below` (8) opens a review case; the callback's overdue alert, if any, is resolved."""
    now, actor = state.clock(), actor_of(request, result.actor)
    config = state.config()
    if config is None:
        raise HTTPException(503, "the rules are not loaded yet", headers={"Retry-After": "5"})
    topic = ALERTS.name + runtime.settings.kafka.topic_suffix
    async with runtime.database.connection() as conn:
        try:
            row = await callbacks.record_result(
                conn, callback_id, result.nps, result.note, actor, now, topic, config
            )
        except callbacks.NotFound as exc:
            raise HTTPException(404, detail=str(exc)) from exc
        except callbacks.AlreadyDone as exc:
            raise HTTPException(409, detail=str(exc)) from exc
    return callbacks.callback_out(row, now)
