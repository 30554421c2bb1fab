"""Building a service: one FastAPI app whose lifespan owns the database, producer and consumers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Coroutine, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Annotated, Any

import structlog
from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request
from sqlalchemy import Table

from shared.contracts.registry import TopicSpec
from shared.db.engine import Database
from shared.db.idempotency import claim_events
from shared.errors import BodyLimit, install_error_handlers
from shared.gctuning import tune_gc
from shared.kafka.consumer import ConsumedEvent, EventConsumer, Handler
from shared.kafka.producer import EventProducer
from shared.leader import Leadership
from shared.observability.http import ReadinessCheck, health_router, instrument
from shared.observability.logging import configure_logging
from shared.openapi import document_error_statuses
from shared.settings import ServiceSettings

log = structlog.get_logger(__name__)


@dataclass
class Runtime:
    """What a running service holds; reachable from routes as `request.app.state.runtime`."""

    service: str
    settings: ServiceSettings
    database: Database
    producer: EventProducer
    consumers: list[EventConsumer] = field(default_factory=list)

    def consumers_ready(self) -> bool | str:
        """True while every consumer runs and none has a stalled partition; else what is wrong."""
        problems = [f"{c.group_id} is {c.state}" for c in self.consumers if c.state != "running"]
        problems += [
            f"{c.group_id} stalled on {tp.topic}[{tp.partition}]"
            for c in self.consumers
            for tp in c.stalled()
        ]
        return "; ".join(problems) or True


def runtime_of(request: Request) -> Runtime:
    """The running service's Runtime, set by the lifespan: a route dependency (see RuntimeDep). Before
    the lifespan has set it up the service is not ready: 503 with Retry-After, as for a lost broker."""
    runtime: Runtime | None = getattr(request.app.state, "runtime", None)
    if runtime is None:
        raise HTTPException(503, "the service is starting", headers={"Retry-After": "1"})
    return runtime


RuntimeDep = Annotated[Runtime, Depends(runtime_of)]


@dataclass(frozen=True)
class ConsumerSpec:
    group_id: str
    topics: Sequence[TopicSpec]
    handler: Callable[[Runtime], Handler]
    max_batch: int = 500


def recording_handler(table: Table, group: str) -> Callable[[Runtime], Handler]:
    """A handler that validates (by decoding) and durably records each event id: the skeleton effect."""

    def build(runtime: Runtime) -> Handler:
        async def handle(events: list[ConsumedEvent]) -> None:
            async with runtime.database.transaction() as session:
                await claim_events(
                    session, table, group, [(e.envelope.event_id, e.envelope.type) for e in events]
                )

        return handle

    return build


def build_app(
    *,
    service: str,
    settings: ServiceSettings,
    title: str,
    description: str,
    consumers: Sequence[ConsumerSpec] = (),
    routers: Sequence[APIRouter] = (),
    drain_timeout_s: float = 15.0,
    max_body_bytes: int = 1_000_000,
    background: Sequence[Callable[[Runtime], Coroutine[Any, Any, None]]] = (),
    readiness: Mapping[str, ReadinessCheck] | None = None,
    app_class: Callable[..., FastAPI] | None = None,
    leadership: Leadership | None = None,
) -> FastAPI:
    """A service app. `background` coroutines (e.g. an outbox relay) run for the app's lifetime and
    are cancelled before the consumers drain; `app_class` builds the app where a service needs its own
    FastAPI subclass (ingest's fast lane). With `leadership`, the consumers and the background coroutines
    run only while this replica leads (shared/leader.py); every replica serves HTTP."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        configure_logging(service, settings.log_level)
        runtime = Runtime(
            service,
            settings,
            Database(settings.database, service),
            EventProducer(settings.kafka, service),
        )
        await runtime.producer.start()
        tasks: list[asyncio.Task[None]] = []

        async def start_work() -> None:
            for spec in consumers:
                consumer = EventConsumer(
                    service=service,
                    group_id=spec.group_id,
                    topics=spec.topics,
                    handler=spec.handler(runtime),
                    producer=runtime.producer,
                    settings=settings.kafka,
                    max_batch=spec.max_batch,
                )
                await consumer.start()
                runtime.consumers.append(consumer)
            tasks.extend(asyncio.create_task(job(runtime)) for job in background)

        async def stop_work() -> None:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            tasks.clear()
            await asyncio.gather(*(c.stop(drain_timeout_s) for c in runtime.consumers))
            runtime.consumers.clear()

        app.state.runtime = runtime
        tune_gc()
        leading = asyncio.create_task(leadership.run(start_work, stop_work)) if leadership else None
        if leading is None:
            await start_work()
        log.info("service_started", env=settings.app_env)
        try:
            yield
        finally:
            if leading is not None:
                leading.cancel()
                await asyncio.gather(leading, return_exceptions=True)
            else:
                await stop_work()
            await runtime.producer.stop()
            await runtime.database.dispose()
            log.info("service_stopped")

    options: dict[str, Any] = {
        "title": title,
        "description": description,
        "version": "0.1.0",
        "lifespan": lifespan,
    }
    app = app_class(**options) if app_class is not None else FastAPI(**options)
    install_error_handlers(app, service)
    document_error_statuses(app)
    app.add_middleware(BodyLimit, max_bytes=max_body_bytes, service=service)
    instrument(app, service)  # added last, so outermost: it also counts the 413s BodyLimit answers

    def runtime() -> Runtime:
        state: Runtime = app.state.runtime
        return state

    async def database_ready() -> bool:
        return await runtime().database.reachable()

    async def kafka_ready() -> bool:
        return await runtime().producer.broker_reachable()

    async def consumers_ready() -> bool | str:
        if leadership is not None and not leadership.leader:
            return True  # a standby consumes nothing: nothing to be late on
        return runtime().consumers_ready()

    checks: dict[str, ReadinessCheck] = {"database": database_ready, "kafka": kafka_ready}
    if consumers:
        checks["consumers"] = consumers_ready
    checks.update(readiness or {})
    for router in routers:  # first: requests are matched against routes in order, the service's are hot
        app.include_router(router)
    app.include_router(health_router(checks))
    return app
