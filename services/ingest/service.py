"""Accepting records exactly once, in groups: claim in the store, publish with acks=all, then mark
published.

Concurrent requests share the work. Everything submitted while a group is being claimed joins the next
group; a group is claimed in one statement, published as one closed record batch per partition (no
linger: the broker sees it at once), and its requests are answered when the broker acknowledged it.
The next group is claimed while this one is in flight. Marking records published happens after the
answer, in the background and coalesced; until a mark is stored, this process remembers which records
it published, so a repeat is still answered as a duplicate and nothing is published twice.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal, NamedTuple
from uuid import UUID

import structlog

from services.ingest import metrics
from services.ingest.records import Submission
from services.ingest.store import STORE_ERRORS, Claim, Key, Mark, RecordStore
from shared.contracts.envelope import Record
from shared.kafka.producer import BrokerUnavailable, EventProducer

log = structlog.get_logger(__name__)
MAX_GROUP_RECORDS = 5000
"""A group closes at this many records; later requests wait for the next one."""


def new_ids(count: int) -> list[UUID]:
    """`count` random (version 4) UUIDs from one read of the OS's random source."""
    random = os.urandom(16 * count)
    return [UUID(bytes=random[i : i + 16], version=4) for i in range(0, 16 * count, 16)]


class Unavailable(Exception):
    """A dependency (database or broker) failed: nothing may be reported as accepted (HTTP 503)."""

    def __init__(self, dependency: Literal["database", "broker"], cause: Exception) -> None:
        super().__init__(f"{dependency} unavailable: {cause}")
        self.dependency = dependency


class Result(NamedTuple):
    status: Literal["accepted", "duplicate", "conflict"]
    record_id: UUID


@dataclass(eq=False)
class _Request:
    client: str
    submissions: Sequence[Submission]
    answer: asyncio.Future[list[Result]]
    results: list[Result] = field(default_factory=list)
    waits_on: set[asyncio.Future[None]] = field(default_factory=set)
    """Publishes (this group's or an earlier one's) whose outcome decides this request's answer."""


class _InFlight(NamedTuple):
    payload_hash: str
    record_id: UUID
    published: asyncio.Future[None]
    """Done once the broker acknowledged (or refused) the group that carries the record."""


def _fail(answer: asyncio.Future[list[Result]], error: BaseException) -> None:
    if not answer.done():  # a request whose client went away is cancelled
        answer.set_exception(error)


class Ingestor:
    """Guarantees: a record is `accepted` only once the broker acknowledged it; a (client, external_id)
    pair is published under one record id however often it is sent; a repeat while the first is in
    flight waits for its outcome (duplicate on success, 503 on failure); a pair whose publish failed is
    re-published under the same id on retry (consumers deduplicate on event_id)."""

    def __init__(
        self,
        store: RecordStore,
        producer: EventProducer,
        topic_suffix: str = "",
        claim_timeout_s: float = 10.0,
    ) -> None:
        self._store, self._producer, self._suffix = store, producer, topic_suffix
        self._claim_timeout_s = claim_timeout_s
        """A claim slower than this (a hung or locked database) answers 503 instead of waiting on."""
        self._waiting: list[_Request] = []
        self._claiming: asyncio.Task[None] | None = None
        self._in_flight: dict[Key, _InFlight] = {}
        """Records this process published (or is publishing) whose mark is not stored yet."""
        self._tasks: set[asyncio.Task[None]] = set()

    async def submit(self, client: str, submissions: Sequence[Submission]) -> list[Result]:
        """Each submission's outcome, once every accepted one is acknowledged by the broker; raises
        Unavailable when the database or broker failed (nothing of this request may count as accepted)."""
        if not submissions:
            return []
        request = _Request(client, submissions, asyncio.get_running_loop().create_future())
        self._waiting.append(request)
        if self._claiming is None or self._claiming.done():
            self._claiming = asyncio.create_task(self._claim_groups())
        return await request.answer

    async def _claim_groups(self) -> None:
        while self._waiting:
            size, count = 0, 0
            for request in self._waiting:
                if count and size + len(request.submissions) > MAX_GROUP_RECORDS:
                    break
                size += len(request.submissions)
                count += 1
            group, self._waiting = self._waiting[:count], self._waiting[count:]
            await self._claim(group)

    async def _claim(self, group: list[_Request]) -> None:
        ids = new_ids(sum(len(r.submissions) for r in group))
        claims: dict[str, list[Claim]] = defaultdict(list)
        known: dict[Key, _InFlight | None] = {}  # None: claimed in this group, its stored row decides
        position = 0
        for request in group:
            for sub in request.submissions:
                key = (request.client, sub.external_id)
                if key in self._in_flight:
                    known[key] = self._in_flight[key]
                elif key not in known:
                    known[key] = None
                    claims[request.client].append(
                        Claim(sub.external_id, sub.kind, ids[position], sub.payload_hash)
                    )
                position += 1
        batch_id = int.from_bytes(os.urandom(8)) >> 1
        try:
            async with asyncio.timeout(self._claim_timeout_s):
                stored = await self._store.claim(batch_id, claims) if claims else {}
        except STORE_ERRORS as exc:
            failure = Unavailable("database", exc)
            for request in group:
                _fail(request.answer, failure)
            return
        published: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        records: dict[str, list[Record]] = defaultdict(list)
        carried: list[Key] = []
        moved: list[Key] = []
        for request in group:
            for sub in request.submissions:
                key = (request.client, sub.external_id)
                entry = known[key]
                if entry is None:
                    row = stored[key]
                    if row.payload_hash != sub.payload_hash:
                        request.results.append(Result("conflict", row.record_id))
                    elif row.published:
                        request.results.append(Result("duplicate", row.record_id))
                    else:  # new, or claimed before and never marked (its publish failed): publish
                        records[sub.topic.name + self._suffix].append(sub.build(row.record_id))
                        carried.append(key)
                        if not row.fresh:
                            moved.append(key)
                        entry = _InFlight(sub.payload_hash, row.record_id, published)
                        known[key] = self._in_flight[key] = entry
                        request.results.append(Result("accepted", row.record_id))
                        request.waits_on.add(published)
                elif entry.payload_hash != sub.payload_hash:
                    request.results.append(Result("conflict", entry.record_id))
                else:  # published by this process or being published: decided by that outcome
                    request.results.append(Result("duplicate", entry.record_id))
                    if not entry.published.done() or entry.published.exception() is not None:
                        request.waits_on.add(entry.published)
        if records:
            mark = Mark(batch_id, len(carried), moved)
            task = asyncio.create_task(self._publish(records, carried, mark, published))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        for request in group:
            if request.waits_on:
                _answer_when_published(request)
            elif not request.answer.done():
                request.answer.set_result(request.results)

    async def _publish(
        self,
        records: dict[str, list[Record]],
        carried: list[Key],
        mark: Mark,
        published: asyncio.Future[None],
    ) -> None:
        started = time.perf_counter()
        try:
            for topic, batch in records.items():
                await self._producer.send_raw_many(topic, batch, as_batches=True)
        except BaseException as exc:
            for key in carried:
                self._in_flight.pop(key, None)  # not published: a retry publishes it again
            cause = exc if isinstance(exc, BrokerUnavailable) else BrokerUnavailable(repr(exc))
            published.set_exception(Unavailable("broker", cause))
            published.exception()  # retrieved: every request of the group may have gone already
            if not isinstance(exc, BrokerUnavailable):
                raise
            return
        metrics.PRODUCE_LATENCY.observe(time.perf_counter() - started)
        published.set_result(None)
        try:
            await self._store.mark_published(mark)
        except STORE_ERRORS as exc:
            # Published but not marked: a retry re-publishes under the same ids, which consumers dedupe.
            log.warning("ingest_mark_published_failed", records=len(carried), error=str(exc))
        finally:
            for key in carried:
                self._in_flight.pop(key, None)


def _answer_when_published(request: _Request) -> None:
    pending = set(request.waits_on)

    def settle(done: asyncio.Future[None]) -> None:
        pending.discard(done)
        error = done.exception()
        if error is not None:
            _fail(request.answer, error)
        elif not pending and not request.answer.done():
            request.answer.set_result(request.results)

    for future in request.waits_on:
        future.add_done_callback(settle)
