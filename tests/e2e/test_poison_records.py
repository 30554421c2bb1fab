"""Issue 22's acceptance test: one bad record never stops a consumer. An extreme variant of every example
event is produced straight to Kafka, past ingest, followed by ordinary records; each consumer dead-letters
the extreme ones and applies the ordinary ones within a minute. Ingest refuses the same values with a 422."""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from scripts.harness import INGEST_KEY, OPERATOR_KEY, LagProbe, Platform
from shared.contracts.registry import FEEDBACK_SCORED, TOPICS, TopicSpec
from tests.e2e.flow import (
    PRAISE,
    customer,
    envelopes,
    feedback,
    last_tuesday,
    post_event,
    post_feedback,
    purchase,
    until,
)

pytestmark = pytest.mark.integration

EXAMPLES = Path(__file__).resolve().parents[2] / "shared" / "contracts" / "examples"
CONSUMED = [spec for spec in TOPICS.values() if spec.consumers]
DEADLINE_S = 60.0
YEAR_ONE = "0001-01-01T00:00:00+00:00"
HUGE_INT = 2**63
HUGE_DECIMAL = "999999999999.99"
_DECIMAL = re.compile(r"\d+\.\d+")
_TIME = re.compile(r"\d{4}-\d{2}-\d{2}(T.+)?")
EXCLUDED = {
    ("referral", "huge"): "no number in its payload: the variant would be the ordinary event",
    ("survey_completed", "huge"): "no number in its payload: the variant would be the ordinary event",
    ("tier_changed", "huge"): "qualifying_spend is a display string of a year's spend, unbounded by design "
    "(many purchases may add up past MAX_AMOUNT) and only shown by alerting, so the variant is valid",
    ("tier_downgrade_warning", "huge"): "as tier_changed",
    ("callback.scheduled", "huge"): "no number in its payload (the answer comes with callback.done)",
}
"""(event type, variant) pairs not sent, and why."""


@dataclass(frozen=True)
class Sent:
    spec: TopicSpec
    event_type: str
    variant: str
    event_id: str


def year_one(value: Any) -> Any:
    """Every date and time, envelope's and payload's, moved to year 1."""
    if isinstance(value, dict):
        return {k: year_one(v) for k, v in value.items()}
    if isinstance(value, list):
        return [year_one(v) for v in value]
    if isinstance(value, str) and (match := _TIME.fullmatch(value)):
        return YEAR_ONE if match.group(1) else "0001-01-01"
    return value


def huge(value: Any) -> Any:
    """Every integer and decimal string of a payload made huge."""
    if isinstance(value, dict):
        return {k: huge(v) for k, v in value.items()}
    if isinstance(value, list):
        return [huge(v) for v in value]
    if isinstance(value, int) and not isinstance(value, bool):
        return HUGE_INT
    if isinstance(value, str) and _DECIMAL.fullmatch(value):
        return HUGE_DECIMAL
    return value


def with_fresh_ids(value: Any, ids: dict[str, str], field: str = "") -> Any:
    """The example with each identifier (envelope key, `*_id`, `*_ids`) replaced by one of this run's own,
    the same one wherever the example repeats it, so effects land on new customers, orders and alerts."""
    if isinstance(value, dict):
        return {k: with_fresh_ids(v, ids, k) for k, v in value.items()}
    if isinstance(value, list):
        return [with_fresh_ids(v, ids, field) for v in value]
    if isinstance(value, str) and (field == "key" or field.endswith(("_id", "_ids"))):
        if value not in ids:
            ids[value] = str(uuid.uuid4()) if _is_uuid(value) else f"{value}-{uuid.uuid4().hex[:8]}"
        return ids[value]
    return value


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def variants(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    extreme = {"year_one": year_one(doc), "huge": {**doc, "payload": huge(doc["payload"])}}
    return {name: body for name, body in extreme.items() if (doc["type"], name) not in EXCLUDED}


def record(doc: dict[str, Any]) -> tuple[bytes, bytes, list[tuple[str, bytes]]]:
    """A fresh event id in body and headers, as shared.contracts.envelope.Envelope.headers() sets them."""
    event_id = str(uuid.uuid4())
    headers = [
        ("event_id", event_id.encode()),
        ("event_type", str(doc["type"]).encode()),
        ("event_version", str(doc["version"]).encode()),
    ]
    return str(doc["key"]).encode(), json.dumps({**doc, "event_id": event_id}).encode(), headers


async def produce_examples(platform: Platform) -> tuple[list[Sent], dict[str, str]]:
    """Both extreme variants of every consumed example, then an ordinary copy of each; what was sent, and
    the run's ids by the examples' ones."""
    ids: dict[str, str] = {}
    sent: list[Sent] = []
    producer = AIOKafkaProducer(bootstrap_servers=platform.kafka.bootstrap_servers, acks="all")
    await producer.start()
    try:
        for phase in ("extreme", "ordinary"):
            for spec in CONSUMED:
                for path in sorted((EXAMPLES / spec.name).glob("*.json")):
                    doc = with_fresh_ids(json.loads(path.read_text()), ids)
                    bodies = variants(doc) if phase == "extreme" else {"ordinary": doc}
                    for name, body in bodies.items():
                        assert name == "ordinary" or body != doc, f"{path.name}: {name} changes nothing"
                        key, value, headers = record(body)
                        await producer.send_and_wait(
                            platform.topic(spec.name), value, key=key, headers=headers
                        )
                        sent.append(Sent(spec, doc["type"], name, dict(headers)["event_id"].decode()))
    finally:
        await producer.stop()
    return sent, ids


async def dead_letters(platform: Platform, spec: TopicSpec) -> list[dict[str, str]]:
    """The headers of every record in the topic's DLQ, up to its end now."""
    topic = platform.topic(spec.dlq)
    consumer = AIOKafkaConsumer(bootstrap_servers=platform.kafka.bootstrap_servers, enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = [TopicPartition(topic, p) for p in range(spec.dlq_partitions)]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        found: list[dict[str, str]] = []
        async with asyncio.timeout(20):
            while [tp for tp, end in ends.items() if await consumer.position(tp) < end]:
                for records in (await consumer.getmany(timeout_ms=500)).values():
                    found.extend({k: v.decode() for k, v in r.headers} for r in records)
        return found
    finally:
        await consumer.stop()


async def balance(http: httpx.AsyncClient, platform: Platform, customer_id: str) -> int | None:
    response = await http.get(f"{platform.url('loyalty')}/v1/members/{customer_id}", headers=OPERATOR_KEY)
    return int(response.json()["balance"]) if response.status_code == 200 else None


def scored(feedback_ids: set[str], not_by_us: set[str]) -> Callable[[list[dict[str, Any]]], bool]:
    """Whether sentiment scored all of `feedback_ids`: envelopes this test produced itself do not count."""
    return lambda found: (
        feedback_ids <= {e["payload"]["feedback_id"] for e in found if e["event_id"] not in not_by_us}
    )


async def test_extreme_records_are_dead_lettered_by_each_consumer_and_ordinary_ones_applied_within_a_minute(
    platform: Platform, http: httpx.AsyncClient
) -> None:
    start = asyncio.get_running_loop().time()

    def left() -> float:
        return max(DEADLINE_S - (asyncio.get_running_loop().time() - start), 0.5)

    sent, ids = await produce_examples(platform)
    buyer, author = customer("P"), customer("F")
    await post_event(http, platform, purchase(buyer, "88.00", last_tuesday()))
    feedback_id = await post_feedback(http, platform, feedback(author, PRAISE))

    example = json.loads((EXAMPLES / "feedback.received.v1" / "feedback.received.json").read_text())
    copied_feedback_id = ids[example["payload"]["feedback_id"]]
    done = scored({feedback_id, copied_feedback_id}, {s.event_id for s in sent})
    found = await envelopes(
        platform.kafka.bootstrap_servers, platform.topic(FEEDBACK_SCORED.name), done, left()
    )
    assert done(found), (
        "the ordinary feedback (posted, and copied from the example) not scored within a minute"
    )
    assert await until(lambda: balance(http, platform, buyer), left(), "the ordinary purchase's points") > 0
    async with LagProbe(platform) as probe:

        async def drained() -> dict[str, int] | None:
            lag = await probe.lag()
            return lag if not any(lag.values()) else None

        await until(drained, left(), "every consumer group at lag 0")

    for spec in CONSUMED:
        refused = [h for h in await dead_letters(platform, spec) if "event_id" in h]
        for one in (s for s in sent if s.spec is spec):
            by = Counter(h["dlq.service"] for h in refused if h["event_id"] == one.event_id)
            expected = Counter(spec.consumers) if one.variant != "ordinary" else Counter()
            assert by == expected, (spec.name, one.event_type, one.variant, by)


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/v1/feedback", feedback("F-extreme", PRAISE, occurred_at=YEAR_ONE), "occurred_at"),
        ("/v1/events", purchase("P-extreme", HUGE_DECIMAL, last_tuesday()), "purchase.amount"),
    ],
    ids=["feedback-in-year-1", "purchase-of-a-trillion"],
)
async def test_ingest_refuses_extreme_values_naming_the_field(
    platform: Platform, http: httpx.AsyncClient, path: str, body: dict[str, Any], field: str
) -> None:
    response = await http.post(f"{platform.url('ingest')}{path}", json=body, headers=INGEST_KEY)
    assert response.status_code == 422, response.text
    assert field in [error["field"] for error in response.json()["detail"]], response.text
