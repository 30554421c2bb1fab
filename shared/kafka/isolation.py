"""Running a handler over a batch so that one bad event can never stop the rest: retry what the world broke,
split the batch to find the event that breaks it, and dead-letter that event alone."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import structlog

from shared.kafka.backoff import Backoff, pause
from shared.kafka.dlq import DlqCause, DlqLimit, DlqLimitExceeded
from shared.kafka.events import Handler, Item, PoisonEvent
from shared.kafka.failures import FailureKind, classify, describe
from shared.observability import metrics

log = structlog.get_logger(__name__)
DeadLetter = Callable[[Item, str, DlqCause], Awaitable[bool]]
"""Writes an item's record to its DLQ; False if stop() interrupted that."""


class Interrupted(Exception):
    """stop() was called while waiting to retry, or the DLQ limit was reached: the part stays unresolved."""

    def __init__(self, halt: DlqLimitExceeded | None = None) -> None:
        super().__init__(str(halt) if halt else "stopping")
        self.halt = halt


class BatchRunner:
    """Applies batches with `handler`, resolving every event: applied, or dead-lettered with the error.

    A transient failure (see shared.kafka.failures) retries the same events with capped backoff for as long
    as it lasts. A deterministic or unknown failure of several events splits them in two halves, each
    handled on its own (the handler is idempotent, so a half already applied in an earlier attempt is
    harmless). A single event is dead-lettered on a deterministic failure, or after `unknown_attempts`
    unknown ones; a PoisonEvent is dead-lettered at once and the others retried. Every dead-lettered event
    counts against `limit`, whose breach interrupts the batch (DlqLimitExceeded).
    """

    def __init__(
        self,
        *,
        service: str,
        group: str,
        handler: Handler,
        dead_letter: DeadLetter,
        limit: DlqLimit,
        stopping: asyncio.Event,
        unknown_attempts: int,
    ) -> None:
        self.service, self.group = service, group
        self._handler, self._dead_letter, self._limit = handler, dead_letter, limit
        self._stopping, self._unknown_attempts = stopping, unknown_attempts

    async def run(self, batch: list[Item]) -> tuple[list[Item], DlqLimitExceeded | None]:
        """Resolve every item of `batch`, in order. Returns the items left unresolved, because stop() was
        called during a retry or the DLQ limit was reached (then also the breach); those must not be
        committed."""
        todo = [batch]  # a stack of parts: the last one is handled next
        while todo:
            part = todo.pop()
            try:
                todo.extend(reversed(await self._settle(part)))
            except Interrupted as interrupted:
                return [item for rest in [part, *todo] for item in rest], interrupted.halt
        return [], None

    async def _settle(self, part: list[Item]) -> list[list[Item]]:
        """Handle `part` until it is applied or resolved event by event; returns the halves still to
        handle when it had to be split."""
        backoff, unknown = Backoff(), 0
        kind: FailureKind
        exc: BaseException
        while part:
            try:
                await self._call(part)
            except PoisonEvent as poison:
                metrics.KAFKA_HANDLER_FAILURES.labels(self.service, self.group, "poison").inc()
                item = next((i for i in part if i[0] is poison.event), None)
                if item is not None:
                    await self._discard(item, str(poison), "poison")
                    part = [i for i in part if i is not item]
                    continue
                kind, exc = "unknown", poison  # the handler named an event it was not given
            except Exception as failure:
                kind, exc = classify(failure), failure
                metrics.KAFKA_HANDLER_FAILURES.labels(self.service, self.group, kind).inc()
            else:
                self._limit.record_handled(dead_lettered=False)
                return []
            if kind == "transient":
                await self._retry(part, exc, kind, backoff.delay())
                continue
            if len(part) > 1:
                self._log_failure(part, exc, kind, action="split")
                middle = len(part) // 2
                return [part[:middle], part[middle:]]
            if kind == "deterministic":
                await self._discard(part[0], f"handler failed (deterministic): {describe(exc)}", kind)
                return []
            unknown += 1
            if unknown >= self._unknown_attempts:
                error = f"handler failed (unknown, {unknown} attempts): {describe(exc)}"
                await self._discard(part[0], error, "unknown")
                return []
            await self._retry(part, exc, kind, backoff.delay())
        return []

    async def _call(self, part: list[Item]) -> None:
        events = [event for event, _ in part]
        started = time.perf_counter()
        # Log lines written by the handler carry the event id (or the batch's first ids).
        with structlog.contextvars.bound_contextvars(
            event_id=str(events[0].envelope.event_id) if len(events) == 1 else None,
            event_ids=[str(e.envelope.event_id) for e in events[:5]] if len(events) > 1 else None,
            batch_size=len(events),
        ):
            await self._handler(events)
        metrics.KAFKA_HANDLER_LATENCY.labels(self.service, self.group).observe(time.perf_counter() - started)

    async def _retry(self, part: list[Item], exc: BaseException, kind: FailureKind, delay: float) -> None:
        metrics.KAFKA_HANDLER_RETRIES.labels(self.service, self.group).inc()
        self._log_failure(part, exc, kind, action="retry", retry_in_s=delay)
        if self._stopping.is_set() or await pause(self._stopping, delay):
            raise Interrupted

    async def _discard(self, item: Item, error: str, cause: DlqCause) -> None:
        try:
            self._limit.record_handled(dead_lettered=True)
        except DlqLimitExceeded as halt:
            raise Interrupted(halt) from halt
        if not await self._dead_letter(item, error, cause):
            raise Interrupted

    def _log_failure(self, part: list[Item], exc: BaseException, kind: str, **fields: object) -> None:
        log.warning(
            "kafka_handler_failed",
            group=self.group,
            kind=kind,
            error=repr(exc),
            event_ids=[str(event.envelope.event_id) for event, _ in part[:5]],
            batch_size=len(part),
            **fields,
        )
