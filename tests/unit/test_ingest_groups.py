"""The Ingestor's grouping over an in-memory store and a producer whose acknowledgements the test
releases: repeats in flight, conflicts, failed publishes and re-publication under the stored id."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from services.ingest.claims import Claims, Key, Mark, Stored
from services.ingest.encode import Lot, feedback_lot
from services.ingest.mask import Masking
from services.ingest.publish import Ingestor, Outcome, Unavailable
from services.ingest.schemas import FeedbackIn
from shared.kafka.producer import BrokerUnavailable


class MemoryStore:
    """RecordStore's contract in memory: rows are never overwritten; a batch mark publishes its rows."""

    def __init__(self) -> None:
        self.rows: dict[Key, dict[str, Any]] = {}
        self.published_batches: set[int] = set()

    async def claim(self, batch_id: int, claims: Claims) -> list[int]:
        skipped = []
        for position, (client, name, _kind, record_id, digest) in enumerate(zip(*claims, strict=True)):
            if (client, name) in self.rows:
                skipped.append(position)
            else:
                self.rows[(client, name)] = {"id": record_id, "hash": digest, "batch": batch_id}
        return skipped

    async def stored(self, keys: list[Key]) -> dict[Key, Stored]:
        return {
            key: Stored(row["id"], row["hash"], row["batch"] in self.published_batches)
            for key in keys
            if (row := self.rows.get(key)) is not None
        }

    async def mark_published(self, mark: Mark) -> None:
        for key in mark.moved:
            self.rows[key]["batch"] = mark.batch_id
        self.published_batches.add(mark.batch_id)


class GatedProducer:
    """Acknowledges a send when the test opens the gate (or fails it when `refuse` is set)."""

    def __init__(self) -> None:
        self.gate = asyncio.Event()
        self.refuse = False
        self.sent: list[dict[str, Any]] = []

    async def send_raw_many(self, topic: str, records: list[Any], *, as_batches: bool) -> None:
        await self.gate.wait()
        if self.refuse:
            raise BrokerUnavailable("refused by the test")
        for _key, value, headers in records:
            event = json.loads(value)
            assert dict(headers)["event_id"] == event["event_id"].encode()
            self.sent.append(event)


def lot(*records: dict[str, Any]) -> Lot:
    items = [
        FeedbackIn.model_validate(
            {"channel": "app", "customer_id": "C1", "occurred_at": "2026-11-20T09:30:00+08:00", **r}
        )
        for r in records
    ]
    return feedback_lot("demo", items, Masking(frozenset(["phone"]), b"test-key"))


async def until_claimed(ingestor: Ingestor) -> None:
    for _ in range(100):
        await asyncio.sleep(0)
        if not ingestor._waiting and (ingestor._claiming is None or ingestor._claiming.done()):
            for _ in range(5):  # and the requests answered by the claim have run on
                await asyncio.sleep(0)
            return
    raise AssertionError("the group was not claimed")


@pytest.fixture
def parts() -> tuple[Ingestor, MemoryStore, GatedProducer]:
    store, producer = MemoryStore(), GatedProducer()
    return Ingestor(store, producer), store, producer  # type: ignore[arg-type]


async def test_a_lot_with_repeats_and_a_changed_copy_publishes_each_pair_once(parts):
    ingestor, _, producer = parts
    producer.gate.set()
    outcome = await ingestor.submit(
        "demo",
        lot(
            {"external_id": "a", "text": "ok"},
            {"external_id": "b", "text": "late"},
            {"external_id": "a", "text": "ok"},
            {"external_id": "b", "text": "late, call 13812345678"},
        ),
    )
    assert outcome.statuses == ["accepted", "accepted", "duplicate", "conflict"]
    assert outcome.ids[0] == outcome.ids[2]
    assert outcome.ids[1] == outcome.ids[3]
    assert sorted(e["payload"]["external_id"] for e in producer.sent) == ["a", "b"]


async def test_a_repeat_of_a_record_in_flight_waits_for_its_acknowledgement(parts):
    ingestor, _, producer = parts
    first = asyncio.create_task(ingestor.submit("demo", lot({"external_id": "a", "text": "ok"})))
    await until_claimed(ingestor)
    second = asyncio.create_task(ingestor.submit("demo", lot({"external_id": "a", "text": "ok"})))
    changed = asyncio.create_task(ingestor.submit("demo", lot({"external_id": "a", "text": "changed"})))
    await until_claimed(ingestor)
    assert not second.done(), "a duplicate is answered only once the first publish is acknowledged"
    assert (await changed).statuses == ["conflict"]
    producer.gate.set()
    accepted, repeated = await first, await second
    assert accepted == Outcome(accepted.ids, None)
    assert repeated.statuses == ["duplicate"]
    assert repeated.ids[0] == accepted.ids[0]
    assert [e["payload"]["external_id"] for e in producer.sent].count("a") == 1


async def test_after_a_refused_publish_the_retry_is_published_under_the_stored_id(parts):
    ingestor, store, producer = parts
    producer.refuse = True
    first = asyncio.create_task(ingestor.submit("demo", lot({"external_id": "a", "text": "ok"})))
    await until_claimed(ingestor)
    waiting = asyncio.create_task(ingestor.submit("demo", lot({"external_id": "a", "text": "ok"})))
    await until_claimed(ingestor)
    producer.gate.set()
    for refused in (first, waiting):
        with pytest.raises(Unavailable):
            await refused
    stored_id = store.rows[("demo", "a")]["id"]

    producer.refuse = False
    retry = lot({"external_id": "a", "text": "ok"}, {"external_id": "b", "text": "new"})
    assert retry.ids[0] != stored_id
    outcome = await ingestor.submit("demo", retry)
    assert outcome.statuses == ["accepted", "accepted"]
    assert outcome.ids[0] == stored_id
    [event] = [e for e in producer.sent if e["payload"]["external_id"] == "a"]
    assert event["event_id"] == event["payload"]["feedback_id"] == stored_id
    assert (await ingestor.submit("demo", lot({"external_id": "a", "text": "ok"}))).statuses == ["duplicate"]
