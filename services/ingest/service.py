"""Accepting records exactly once: claim in the store, publish with acks=all, then mark published."""

from __future__ import annotations

import os
import time
from collections import defaultdict
from collections.abc import Sequence
from typing import Literal, NamedTuple
from uuid import UUID

from services.ingest import metrics
from services.ingest.records import Submission
from services.ingest.store import STORE_ERRORS, Claim, RecordStore
from shared.contracts.envelope import Record
from shared.kafka.producer import BrokerUnavailable, EventProducer


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


class Ingestor:
    """Guarantees: a record is `accepted` only once the broker acknowledged it; a (client, external_id)
    pair is published under one record id however often it is sent; a pair whose publish failed is
    re-published under the same id on retry (consumers deduplicate on event_id)."""

    def __init__(self, store: RecordStore, producer: EventProducer, topic_suffix: str = "") -> None:
        self._store, self._producer, self._suffix = store, producer, topic_suffix

    async def submit(self, client: str, submissions: Sequence[Submission]) -> list[Result]:
        first: dict[str, int] = {}
        claims: list[Claim] = []
        ids = new_ids(len(submissions))
        for index, sub in enumerate(submissions):
            if sub.external_id not in first:
                first[sub.external_id] = index
                claims.append(Claim(sub.external_id, sub.kind, ids[index], sub.payload_hash))
        try:
            stored = await self._store.claim(client, claims)
        except STORE_ERRORS as exc:
            raise Unavailable("database", exc) from exc

        results: list[Result | None] = [None] * len(submissions)
        to_publish: list[int] = []
        for item in claims:
            index, row = first[item.external_id], stored[item.external_id]
            if row.payload_hash != item.payload_hash:
                results[index] = Result("conflict", row.record_id)
            elif row.published:
                results[index] = Result("duplicate", row.record_id)
            else:
                results[index] = Result("accepted", row.record_id)
                to_publish.append(index)
        for index, sub in enumerate(submissions):
            if results[index] is None:  # a repeat inside this request
                original = results[first[sub.external_id]]
                assert original is not None
                same = submissions[first[sub.external_id]].payload_hash == sub.payload_hash
                status: Literal["duplicate", "conflict"] = (
                    "duplicate" if same and original.status != "conflict" else "conflict"
                )
                results[index] = Result(status, original.record_id)

        final = [r for r in results if r is not None]
        await self._publish(client, submissions, final, to_publish)
        return final

    async def _publish(
        self, client: str, submissions: Sequence[Submission], results: list[Result], indexes: list[int]
    ) -> None:
        by_topic: dict[str, list[Record]] = defaultdict(list)
        for index in indexes:
            sub = submissions[index]
            by_topic[sub.topic.name + self._suffix].append(sub.build(results[index].record_id))
        started = time.perf_counter()
        try:
            for topic, envelopes in by_topic.items():
                await self._producer.send_raw_many(topic, envelopes)
        except BrokerUnavailable as exc:
            raise Unavailable("broker", exc) from exc
        if indexes:
            metrics.PRODUCE_LATENCY.observe(time.perf_counter() - started)
        published = [
            Claim(submissions[i].external_id, submissions[i].kind, results[i].record_id, "") for i in indexes
        ]
        try:
            await self._store.mark_published(client, published)
        except STORE_ERRORS as exc:
            # Published but not marked: a retry re-publishes under the same ids, which consumers dedupe.
            raise Unavailable("database", exc) from exc
