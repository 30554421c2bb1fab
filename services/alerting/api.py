"""Alerts, silences and rules over HTTP (operator API key required; every action audited)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from sqlalchemy import Row, and_, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from services.alerting.consumer import AlertingState
from services.alerting.escalation import acknowledge, resolve
from services.alerting.lifecycle import apply_timers, timers_of
from services.alerting.metrics import TIME_TO_ACK
from services.alerting.models import alerts, audit, deliveries, member_tiers, silences, timeline
from services.alerting.rules import AlertingConfig
from services.alerting.session import actor_of
from services.alerting.silences import Matcher, not_matching_everything
from shared.contracts.bounds import Timestamp
from shared.contracts.registry import ALERTS
from shared.errors import read_body
from shared.params import NO_NUL_SCHEMA, StorableText, in_utc
from shared.service import Runtime
from shared.yamlconfig import ConfigError, ConfigTooComplex, parse_yaml

RULES_MAX_BYTES = 256 * 1024
"""A rules file to validate: the service's own is a few KiB; parsing takes CPU time per byte."""
RULES_BODY = {
    "requestBody": {
        "required": True,
        "content": {"application/yaml": {"schema": {"type": "string", "maxLength": RULES_MAX_BYTES}}},
    }
}
Label = Annotated[str | None, Query(max_length=200, json_schema_extra=NO_NUL_SCHEMA), StorableText]


class Action(BaseModel):
    model_config = ConfigDict(extra="forbid")

    actor: str = Field(
        min_length=1, max_length=200, description="who acts (recorded in the timeline and audit)"
    )
    note: str | None = Field(default=None, max_length=2000)


class SilenceCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    matchers: Annotated[list[Matcher], AfterValidator(not_matching_everything)] = Field(
        min_length=1, max_length=50
    )
    starts_at: Timestamp | None = None
    ends_at: Timestamp
    created_by: str = Field(min_length=1, max_length=200)
    comment: str = Field(min_length=1, max_length=2000)


def _alert(row: Row[Any]) -> dict[str, Any]:
    return {
        "id": str(row.id),
        "rule_id": row.rule_id,
        "group_key": row.group_key,
        "status": row.status,
        "level": row.level,
        "count": row.count,
        "value": row.value,
        "summary": row.summary,
        "silenced": row.silenced,
        "customer_id": row.customer_id,
        "created_at": row.created_at,
        "updated_at": row.updated_at,
        "acked_at": row.acked_at,
        "acked_by": row.acked_by,
        "resolved_at": row.resolved_at,
        "next_action": row.next_action,
        "next_action_at": row.next_action_at,
        "next_escalation_at": row.next_action_at if row.next_action == "escalate" else None,
        "evidence": row.evidence,
    }


CURSOR_SCHEMA: dict[str, Any] = {"format": "alert-cursor", "pattern": "^[A-Za-z0-9_-]*={0,2}$"}
"""What the OpenAPI document says of a cursor: URL-safe base64, and a format of its own, since only a
`next_cursor` this API gave decodes to a position (tests/openapi_fuzz.py generates such cursors)."""


def _cursor(row: Row[Any]) -> str:
    return base64.urlsafe_b64encode(f"{row.created_at.isoformat()}|{row.id}".encode()).decode()


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
    digest = hashlib.sha256(json.dumps(jsonable_encoder(body), sort_keys=True).encode()).hexdigest()
    return f'"{digest[:32]}"'


def alerting_router(
    state: AlertingState, clock: Callable[[], datetime], auth: Callable[..., Any]
) -> APIRouter:
    """`auth` admits the operator key or a console session (services.alerting.session)."""
    router = APIRouter(prefix="/v1", tags=["alerting"], dependencies=[Depends(auth)])

    def runtime(request: Request) -> Runtime:
        value: Runtime = request.app.state.runtime
        return value

    @router.get("/alerts")
    async def list_alerts(
        request: Request,
        status: Annotated[
            list[Literal["open", "acknowledged", "resolved"]] | None,
            Query(description="repeat for several, e.g. status=open&status=acknowledged"),
        ] = None,
        level: Literal["L1", "L2", "L3", "L4"] | None = None,
        rule: Label = None,
        group: Annotated[Label, Query(description="e.g. business_line=retail")] = None,
        customer: Annotated[Label, Query(description="alerts about this customer_id")] = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 50,
        cursor: Annotated[str | None, Query(max_length=200, json_schema_extra=CURSOR_SCHEMA)] = None,
    ) -> Response:
        """Newest first; pass `next_cursor` back as `cursor` for the next page. Carries an `ETag`: send it
        back as `If-None-Match` to poll cheaply (304 while nothing changed); `X-Server-Now` is the service
        clock, which ages and escalation countdowns are measured against."""
        query = select(alerts)
        if status:
            query = query.where(alerts.c.status.in_(status))
        for column, value in (
            (alerts.c.level, level),
            (alerts.c.rule_id, rule),
            (alerts.c.customer_id, customer),
        ):
            if value is not None:
                query = query.where(column == value)
        if group:
            query = query.where(alerts.c.group_text.contains(group))
        if cursor:
            since, after = _after(cursor)
            query = query.where(
                or_(alerts.c.created_at < since, and_(alerts.c.created_at == since, alerts.c.id < after))
            )
        async with runtime(request).database.connection() as conn:
            rows = (
                await conn.execute(
                    query.order_by(alerts.c.created_at.desc(), alerts.c.id.desc()).limit(limit + 1)
                )
            ).all()
        page = rows[:limit]
        body = {
            "alerts": [_alert(r) for r in page],
            "next_cursor": _cursor(page[-1]) if len(rows) > limit else None,
        }
        now = clock().isoformat()
        headers = {"ETag": _etag(body), "Cache-Control": "no-cache", "X-Server-Now": now}
        if request.headers.get("if-none-match") == headers["ETag"]:
            return Response(status_code=304, headers=headers)
        return JSONResponse(jsonable_encoder(body | {"now": now}), headers=headers)

    async def _get(conn: AsyncConnection, alert_id: uuid.UUID, lock: bool = False) -> Row[Any]:
        query = select(alerts).where(alerts.c.id == alert_id)
        row = (await conn.execute(query.with_for_update() if lock else query)).first()
        if row is None:
            raise HTTPException(404, detail=f"no alert {alert_id}")
        return row

    @router.get("/alerts/{alert_id}")
    async def get_alert(request: Request, alert_id: uuid.UUID) -> dict[str, Any]:
        """The alert with its timeline (fired, escalated, notified, acknowledged, resolved), deliveries and
        the tier of its customer (as alerting last heard it from loyalty)."""
        async with runtime(request).database.connection() as conn:
            row = await _get(conn, alert_id)
            events = (
                await conn.execute(
                    select(timeline).where(timeline.c.alert_id == alert_id).order_by(timeline.c.id)
                )
            ).all()
            sent = (
                await conn.execute(
                    select(deliveries).where(deliveries.c.alert_id == alert_id).order_by(deliveries.c.id)
                )
            ).all()
            tier = None
            if row.customer_id is not None:
                tier = (
                    await conn.execute(
                        select(member_tiers.c.tier).where(member_tiers.c.customer_id == row.customer_id)
                    )
                ).scalar_one_or_none()
        return _alert(row) | {
            "now": clock(),
            "member_tier": tier,
            "timeline": [
                {
                    "kind": e.kind,
                    "at": e.at,
                    "level": e.level,
                    "actor": e.actor,
                    "note": e.note,
                    "detail": e.detail,
                }
                for e in events
            ],
            "deliveries": [
                {
                    "channel": d.channel,
                    "target": d.target,
                    "transition": d.transition,
                    "status": d.status,
                    "attempts": d.attempts,
                    "last_error": d.last_error,
                    "sent_at": d.sent_at,
                }
                for d in sent
            ],
        }

    async def _act(
        request: Request, alert_id: uuid.UUID, action: Action, kind: Literal["acknowledged", "resolved"]
    ) -> dict[str, Any]:
        now = clock()
        actor = actor_of(request, action.actor)
        topic = ALERTS.name + runtime(request).settings.kafka.topic_suffix
        async with runtime(request).database.connection() as conn:
            row = await _get(conn, alert_id, lock=True)
            if row.status == "resolved":
                raise HTTPException(409, detail=f"alert {alert_id} is already resolved")
            if kind == "acknowledged" and row.status == "acknowledged":
                return _alert(row)
            timers = acknowledge(timers_of(row), now) if kind == "acknowledged" else resolve(timers_of(row))
            fresh = await apply_timers(
                conn, row, timers, kind, now, topic, state.config(), actor=actor, text=action.note
            )
            await conn.execute(
                insert(audit).values(actor=actor, action=kind, subject=str(alert_id), note=action.note)
            )
        if kind == "acknowledged":
            TIME_TO_ACK.observe((now - row.created_at).total_seconds())
        return _alert(fresh)

    @router.post("/alerts/{alert_id}/ack")
    async def ack(request: Request, alert_id: uuid.UUID, action: Action) -> dict[str, Any]:
        """Stops escalation; reminders follow every 24 h until resolved or the ack times out."""
        return await _act(request, alert_id, action, "acknowledged")

    @router.post("/alerts/{alert_id}/resolve")
    async def resolve_alert(request: Request, alert_id: uuid.UUID, action: Action) -> dict[str, Any]:
        return await _act(request, alert_id, action, "resolved")

    @router.get("/silences")
    async def list_silences(request: Request) -> list[dict[str, Any]]:
        async with runtime(request).database.connection() as conn:
            rows = (
                await conn.execute(
                    select(silences).where(silences.c.deleted_at.is_(None)).order_by(silences.c.created_at)
                )
            ).all()
        return [
            {
                "id": str(r.id),
                "matchers": r.matchers,
                "starts_at": r.starts_at,
                "ends_at": r.ends_at,
                "created_by": r.created_by,
                "comment": r.comment,
            }
            for r in rows
        ]

    @router.post("/silences", status_code=201)
    async def create_silence(request: Request, body: SilenceCreate) -> dict[str, str]:
        """Silences the alerts its matchers match from `starts_at` (default: now) to `ends_at`. A matcher
        `{name, value}` holds when the alert's label `name` (rule, level or a group dimension) equals
        `value`; a label the alert lacks counts as empty. Every matcher must hold; at least one must have
        a non-empty value (matchers that all match the empty string are refused, as in Alertmanager)."""
        starts = body.starts_at or clock()
        if body.ends_at <= starts:
            raise HTTPException(422, detail=[{"field": "ends_at", "message": "must be after starts_at"}])
        silence_id, actor = uuid.uuid4(), actor_of(request, body.created_by)
        async with runtime(request).database.connection() as conn:
            await conn.execute(
                insert(silences).values(
                    id=silence_id,
                    matchers=[m.model_dump() for m in body.matchers],
                    starts_at=starts,
                    ends_at=body.ends_at,
                    created_by=actor,
                    comment=body.comment,
                )
            )
            await conn.execute(
                insert(audit).values(
                    actor=actor,
                    action="silence_created",
                    subject=str(silence_id),
                    note=body.comment,
                )
            )
        return {"id": str(silence_id)}

    @router.delete("/silences/{silence_id}")
    async def delete_silence(
        request: Request,
        silence_id: uuid.UUID,
        actor: Annotated[
            str, Query(min_length=1, max_length=200, json_schema_extra=NO_NUL_SCHEMA), StorableText
        ],
    ) -> dict[str, str]:
        async with runtime(request).database.connection() as conn:
            done = await conn.execute(
                update(silences)
                .where(silences.c.id == silence_id, silences.c.deleted_at.is_(None))
                .values(deleted_at=datetime.now(UTC))
            )
            if done.rowcount == 0:
                raise HTTPException(404, detail=f"no active silence {silence_id}")
            await conn.execute(
                insert(audit).values(
                    actor=actor_of(request, actor), action="silence_deleted", subject=str(silence_id)
                )
            )
        return {"id": str(silence_id), "status": "deleted"}

    @router.get("/rules")
    async def rules() -> dict[str, Any]:
        """The rules and policies in force."""
        config = state.config()
        return {
            "rules": [r.model_dump(mode="json") for r in config.rules],
            "policies": {k: v.model_dump(mode="json") for k, v in config.policies.items()},
        }

    parsing = asyncio.Semaphore(2)
    """Rules files parsed at once: each holds a worker thread (and the GIL) for its parse."""

    @router.post("/rules/validate", openapi_extra=RULES_BODY)
    async def validate(request: Request) -> dict[str, Any]:
        """Validates a rules file (send it as the body, UTF-8, at most 256 KiB) without loading it: 200 with
        `valid` and the problems by line and field; 422 for a file nested deeper than 50 levels."""
        body = await read_body(request, RULES_MAX_BYTES, "alerting")
        try:
            text = body.decode()
        except UnicodeDecodeError as exc:
            raise HTTPException(422, detail=[{"field": "body", "message": f"not UTF-8: {exc}"}]) from exc
        try:
            async with parsing:  # in a worker thread: CPU-bound for long enough to stall every request
                config = await asyncio.to_thread(parse_yaml, text, AlertingConfig, "rules")
        except ConfigTooComplex as exc:
            raise HTTPException(422, detail=[{"field": "body", "message": str(exc)}]) from exc
        except ConfigError as exc:
            return {"valid": False, "errors": str(exc).splitlines()}
        return {"valid": True, "rules": len(config.rules), "policies": sorted(config.policies)}

    return router
