"""Accepting records exactly once, in groups: claim in the store, publish with acks=all, then mark
published.

Concurrent requests share the work. Everything submitted while a group is being claimed joins the next
group; a group is claimed in one statement, published as one closed record batch per partition (no
linger: the broker sees it at once), and its requests are answered when the broker acknowledged it.
The next group is claimed while this one is in flight. Marking records published happens after the
answer, in the background and coalesced; until a mark is stored, this process remembers which records
it published, so a repeat is still answered as a duplicate and nothing is published twice.

Records travel column by column (a Lot per request). A request whose pairs are all new, none repeated
and none in flight here, costs no Python work per record beyond building columns; only the records
that are repeats, conflicts or claimed before are decided one by one.
"""

from __future__ import annotations

import asyncio
import os
import time
from bisect import bisect_right
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Literal, NamedTuple

import structlog

from services.ingest import metrics
from services.ingest.claims import STORE_ERRORS, Claims, Key, Mark, RecordStore, Stored
from services.ingest.encode import Lot
from shared.contracts.envelope import Record
from shared.kafka.producer import BrokerUnavailable, EventProducer

log = structlog.get_logger(__name__)
MAX_GROUP_RECORDS = 5000
"""A group closes at this many records; later requests wait for the next one."""

Status = Literal["accepted", "duplicate", "conflict"]


class Unavailable(Exception):
    """A dependency (database or broker) failed: nothing may be reported as accepted (HTTP 503)."""

    def __init__(self, dependency: Literal["database", "broker"], cause: Exception) -> None:
        super().__init__(f"{dependency} unavailable: {cause}")
        self.dependency = dependency


class Outcome(NamedTuple):
    """A request's answer: each record's id, and each record's status (None: every one accepted)."""

    ids: list[str]
    statuses: list[Status] | None

    def status(self, index: int) -> Status:
        return "accepted" if self.statuses is None else self.statuses[index]


Pairs = dict[str, dict[str, tuple[str, str]]]
"""client → external_id → (payload_hash, record_id)"""


@dataclass(eq=False)
class _Publication:
    """One group's records being published, or published with their mark not stored yet."""

    published: asyncio.Future[None]
    """Done once the broker acknowledged (or refused) the group."""
    pairs: Pairs = field(default_factory=lambda: defaultdict(dict))


@dataclass(eq=False)
class _Request:
    client: str
    lot: Lot
    answer: asyncio.Future[Outcome]
    ids: list[str] | None = None
    """Each record's id where one differs from the proposed id (else the lot's ids stand)."""
    statuses: list[Status] | None = None
    waits_on: set[asyncio.Future[None]] = field(default_factory=set)
    """Publishes (this group's or an earlier one's) whose outcome decides this request's answer."""
    claimed: list[int] | None = None
    """Indices claimed in the group's statement (None: all of them)."""
    flying: dict[int, tuple[str, str, asyncio.Future[None]]] = field(default_factory=dict)
    """Records in flight in an earlier group when this one was formed: (payload_hash, id, published)."""

    def outcome(self) -> Outcome:
        return Outcome(self.ids or self.lot.ids, self.statuses)


def _fail(answer: asyncio.Future[Outcome], error: BaseException) -> None:
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
        self._flying: list[_Publication] = []
        """Groups this process published (or is publishing) whose mark is not stored yet."""
        self._tasks: set[asyncio.Task[None]] = set()

    async def submit(self, client: str, lot: Lot) -> Outcome:
        """Each record's outcome, once every accepted one is acknowledged by the broker; raises
        Unavailable when the database or broker failed (nothing of this request may count as accepted).
        External ids need not be unique within the lot (a repeat is a duplicate or a conflict)."""
        if not lot.size:
            return Outcome([], None)
        request = _Request(client, lot, asyncio.get_running_loop().create_future())
        self._waiting.append(request)
        if self._claiming is None or self._claiming.done():
            self._claiming = asyncio.create_task(self._claim_groups())
        return await request.answer

    async def _claim_groups(self) -> None:
        while self._waiting:
            size, count = 0, 0
            for request in self._waiting:
                if count and size + request.lot.size > MAX_GROUP_RECORDS:
                    break
                size += request.lot.size
                count += 1
            group, self._waiting = self._waiting[:count], self._waiting[count:]
            await self._claim(group)

    def _claims(self, group: list[_Request]) -> tuple[Claims, list[int]]:
        """What the group claims (each pair once; none in flight here), and where each request's
        claims start among them. A request with a repeat or a pair in flight claims record by record."""
        claims = Claims([], [], [], [], [])
        starts: list[int] = []
        claimed: dict[str, set[str]] = defaultdict(set)
        for request in group:
            lot, client = request.lot, request.client
            mine = claimed[client]
            flying = [(p.published, p.pairs[client]) for p in self._flying if client in p.pairs]
            names = set(lot.external_ids)
            starts.append(len(claims.record_ids))
            if (
                len(names) == lot.size
                and mine.isdisjoint(names)
                and all(pairs.keys().isdisjoint(names) for _, pairs in flying)
            ):
                mine |= names
                claims.clients.extend([client] * lot.size)
                claims.external_ids.extend(lot.external_ids)
                claims.kinds.extend([lot.kind] * lot.size)
                claims.record_ids.extend(lot.ids)
                claims.payload_hashes.extend(lot.payload_hashes)
                continue
            request.claimed = []
            for i, name in enumerate(lot.external_ids):
                entry = next(((*pairs[name], done) for done, pairs in flying if name in pairs), None)
                if entry is not None:
                    request.flying[i] = entry
                elif name not in mine:
                    mine.add(name)
                    request.claimed.append(i)
                    for column, value in zip(
                        claims, (client, name, lot.kind, lot.ids[i], lot.payload_hashes[i]), strict=True
                    ):
                        column.append(value)
        return claims, starts

    async def _claim(self, group: list[_Request]) -> None:
        claims, starts = self._claims(group)
        batch_id = int.from_bytes(os.urandom(8)) >> 1
        try:
            async with asyncio.timeout(self._claim_timeout_s):
                skipped = await self._store.claim(batch_id, claims) if claims.record_ids else []
                keys = [(claims.clients[i], claims.external_ids[i]) for i in skipped]
                stored = await self._store.stored(keys) if keys else {}
        except STORE_ERRORS as exc:
            failure = Unavailable("database", exc)
            for request in group:
                _fail(request.answer, failure)
            return
        not_inserted: dict[int, set[int]] = defaultdict(set)
        for position in skipped:
            at = bisect_right(starts, position) - 1  # requests that claimed nothing share a start
            claimed = group[at].claimed
            offset = position - starts[at]
            not_inserted[at].add(offset if claimed is None else claimed[offset])
        publication = _Publication(asyncio.get_running_loop().create_future())
        records: dict[str, list[Record]] = defaultdict(list)
        moved: list[Key] = []
        count = 0
        for at, request in enumerate(group):
            if request.claimed is None and at not in not_inserted:
                count += self._accept_all(request, publication, records)
            else:
                count += self._decide(
                    request, not_inserted.get(at, set()), stored, publication, records, moved
                )
        if count:
            self._flying.append(publication)
            task = asyncio.create_task(self._publish(records, Mark(batch_id, count, moved), publication))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        for request in group:
            if request.waits_on:
                _answer_when_published(request)
            elif not request.answer.done():
                request.answer.set_result(request.outcome())

    def _accept_all(
        self, request: _Request, publication: _Publication, records: dict[str, list[Record]]
    ) -> int:
        """Every record of the request is new: published under its proposed id."""
        lot = request.lot
        publication.pairs[request.client].update(
            zip(lot.external_ids, zip(lot.payload_hashes, lot.ids, strict=True), strict=True)
        )
        headers = [[("event_id", i.encode()), *lot.headers] for i in lot.ids]
        records[lot.topic.name + self._suffix].extend(zip(lot.keys, lot.values, headers, strict=True))
        request.waits_on.add(publication.published)
        return lot.size

    def _decide(
        self,
        request: _Request,
        not_inserted: set[int],
        stored: dict[Key, Stored],
        publication: _Publication,
        records: dict[str, list[Record]],
        moved: list[Key],
    ) -> int:
        """Each record of the request on its own; returns how many it adds to the publication."""
        lot, client = request.lot, request.client
        claimed = set(range(lot.size) if request.claimed is None else request.claimed)
        ours = publication.pairs[client]
        request.ids, request.statuses = list(lot.ids), []
        published = 0
        for i, name in enumerate(lot.external_ids):
            digest = lot.payload_hashes[i]
            if i in request.flying:  # in an earlier group's publication: decided by its outcome
                their_hash, their_id, done = request.flying[i]
                status: Status = "conflict" if their_hash != digest else "duplicate"
                if status == "duplicate" and (not done.done() or done.exception() is not None):
                    request.waits_on.add(done)
                request.ids[i] = their_id
            elif i in claimed and i not in not_inserted:
                status = "accepted"
            elif name in ours:  # a repeat of a record this group publishes
                their_hash, request.ids[i] = ours[name]
                status = "conflict" if their_hash != digest else "duplicate"
                if status == "duplicate":
                    request.waits_on.add(publication.published)
            else:  # claimed before (or a repeat of such a record): the stored row decides
                row = stored[(client, name)]
                request.ids[i] = row.record_id
                if row.payload_hash != digest:
                    status = "conflict"
                elif row.published:
                    status = "duplicate"
                else:  # claimed and never marked (its publish failed): published again under its id
                    status = "accepted"
                    moved.append((client, name))
            if status == "accepted":
                record_id = request.ids[i]
                value = lot.values[i] if record_id == lot.ids[i] else lot.value_for(i, record_id)
                headers = [("event_id", record_id.encode()), *lot.headers]
                records[lot.topic.name + self._suffix].append((lot.keys[i], value, headers))
                ours[name] = (digest, record_id)
                request.waits_on.add(publication.published)
                published += 1
            request.statuses.append(status)
        return published

    async def _publish(self, records: dict[str, list[Record]], mark: Mark, publication: _Publication) -> None:
        started = time.perf_counter()
        published = publication.published
        try:
            for topic, batch in records.items():
                await self._producer.send_raw_many(topic, batch, as_batches=True)
        except BaseException as exc:
            self._land(publication)  # not published: a retry publishes it again
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
            log.warning("ingest_mark_published_failed", records=mark.records, error=str(exc))
        finally:
            self._land(publication)

    def _land(self, publication: _Publication) -> None:
        """Forget a publication: its outcome is stored, or it failed (a retry publishes again)."""
        if publication in self._flying:
            self._flying.remove(publication)


def _answer_when_published(request: _Request) -> None:
    pending = set(request.waits_on)

    def settle(done: asyncio.Future[None]) -> None:
        pending.discard(done)
        error = done.exception()
        if error is not None:
            _fail(request.answer, error)
        elif not pending and not request.answer.done():
            request.answer.set_result(request.outcome())

    for future in request.waits_on:
        future.add_done_callback(settle)
