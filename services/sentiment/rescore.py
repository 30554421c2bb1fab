"""Re-score retained feedback.received.v1 records of a time range with the current model.

    python -m services.sentiment.rescore --since 2026-12-01T00:00:00+00:00 [--until ...] [--batch-size N]

The range is the records' Kafka timestamps (when ingest published them). Partitions are assigned, not
joined as a consumer group, so the service's offsets are untouched; each is read from its first record
at or after --since up to its end as it was at the start (or its first record after --until). Records
are scored by the model the service loads (SENTIMENT_MODEL) and published to feedback.scored.v1 as the
consumer publishes them: the event id derives from the received event id and the model version, so a
re-run publishes the same ids (consumers deduplicate) and a new model version is a new verdict.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from uuid import UUID

import structlog
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError, UnknownTopicOrPartitionError

from services.sentiment.aspects import AspectTagger, load_taxonomy
from services.sentiment.backends import ModelUnavailable
from services.sentiment.config import SentimentSettings
from services.sentiment.scoring import scored_envelope
from services.sentiment.service import Scorer, build_scorer
from shared.contracts.codec import InvalidMessage, decode
from shared.contracts.feedback import FeedbackReceived
from shared.contracts.registry import FEEDBACK_RECEIVED, FEEDBACK_SCORED
from shared.kafka.producer import BrokerUnavailable, EventProducer
from shared.settings import load_settings

SOURCE = "sentiment"
"""Re-scored verdicts come from the sentiment service like any other."""


class RescoreFailed(Exception):
    """The run cannot go on (no such topic, no progress); what was published stays, a re-run is safe."""


@dataclass
class RescoreReport:
    read: int = 0
    rescored: int = 0
    skipped: int = 0
    """Records that do not decode as feedback.received.v1 (the service dead-lettered them)."""


def _ms(at: datetime) -> int:
    return int(at.timestamp() * 1000)


async def _assign_range(
    consumer: AIOKafkaConsumer, topic: str, since: datetime, until: datetime | None
) -> dict[TopicPartition, int]:
    """Assigns and seeks every partition with records in the range; returns the offset to stop at in each."""
    partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
    if not partitions:
        raise RescoreFailed(f"no such topic: {topic}")
    ends: dict[TopicPartition, int] = await consumer.end_offsets(partitions)
    starts = await consumer.offsets_for_times({tp: _ms(since) for tp in partitions})
    cuts = await consumer.offsets_for_times({tp: _ms(until) + 1 for tp in partitions}) if until else {}
    spans: dict[TopicPartition, tuple[int, int]] = {}
    for tp in partitions:
        start, cut = starts.get(tp), cuts.get(tp)
        stop = min(ends[tp], cut.offset) if cut is not None else ends[tp]
        if start is not None and start.offset < stop:
            spans[tp] = (start.offset, stop)
    if not spans:
        return {}  # aiokafka 0.14's consumer.stop() hangs once unsubscribed with nothing assigned
    consumer.unsubscribe()
    consumer.assign(list(spans))
    for tp, (start_offset, _) in spans.items():
        consumer.seek(tp, start_offset)
    return {tp: stop for tp, (_, stop) in spans.items()}


def _received(value: bytes | None) -> tuple[UUID, FeedbackReceived] | None:
    try:
        envelope = decode(FEEDBACK_RECEIVED, value)
    except InvalidMessage:
        return None
    payload = envelope.payload
    return (envelope.event_id, payload) if isinstance(payload, FeedbackReceived) else None


async def _publish(
    scorer: Scorer, producer: EventProducer, topic: str, batch: list[tuple[UUID, FeedbackReceived]]
) -> None:
    scored = [
        s.model_copy(update={"flags": [*s.flags, "rescored"]})
        for s in await scorer.score_records([record for _, record in batch])
    ]
    now = datetime.now(UTC)
    envelopes = [scored_envelope(eid, s, SOURCE, now) for (eid, _), s in zip(batch, scored, strict=True)]
    await producer.publish_many(topic, envelopes)


async def _drain(
    consumer: AIOKafkaConsumer, stops: dict[TopicPartition, int], report: RescoreReport, stall_after_s: float
) -> list[tuple[UUID, FeedbackReceived]]:
    """The next poll's decodable records below their partitions' stop offsets (empty once all are read)."""
    batch: list[tuple[UUID, FeedbackReceived]] = []
    deadline = time.monotonic() + stall_after_s
    while stops and not batch:
        read_before = report.read
        for tp, records in (await consumer.getmany(*stops, timeout_ms=1000)).items():
            for record in records:
                if record.offset >= stops[tp]:
                    break
                report.read += 1
                received = _received(record.value)
                if received is None:
                    report.skipped += 1
                else:
                    batch.append(received)
        for tp in list(stops):
            if await consumer.position(tp) >= stops[tp]:
                del stops[tp]
        if report.read > read_before:
            deadline = time.monotonic() + stall_after_s
        elif stops and time.monotonic() > deadline:
            raise RescoreFailed(f"no records read for {stall_after_s:.0f}s: is the broker reachable?")
    return batch


async def rescore(
    settings: SentimentSettings, scorer: Scorer, since: datetime, until: datetime | None, batch_size: int
) -> RescoreReport:
    """Re-scores the range and returns what it did; raises on a broker it cannot reach or that does not
    acknowledge (what was published before stays published: a re-run is idempotent)."""
    suffix = settings.kafka.topic_suffix
    consumer = AIOKafkaConsumer(  # subscribed only to learn the partitions, then assigned
        FEEDBACK_RECEIVED.name + suffix,
        bootstrap_servers=settings.kafka.bootstrap_servers,
        client_id=f"{settings.kafka.client_id_prefix}-sentiment-rescore",
        group_id=None,
        enable_auto_commit=False,
        max_poll_records=batch_size,
    )
    producer = EventProducer(settings.kafka, "sentiment-rescore")
    report = RescoreReport()
    try:
        try:
            await consumer.start()
        except UnknownTopicOrPartitionError as exc:
            raise RescoreFailed(f"no such topic: {FEEDBACK_RECEIVED.name + suffix}") from exc
        await producer.start()
        await producer.wait_connected(settings.kafka.publish_timeout_s)
        stops = await _assign_range(consumer, FEEDBACK_RECEIVED.name + suffix, since, until)
        while batch := await _drain(consumer, stops, report, settings.kafka.stall_after_s):
            await _publish(scorer, producer, FEEDBACK_SCORED.name + suffix, batch)
            report.rescored += len(batch)
    finally:
        await consumer.stop()
        await producer.stop()
        await scorer.batcher.close()
    return report


def _timestamp(value: str) -> datetime:
    at = datetime.fromisoformat(value)
    if at.utcoffset() is None:
        raise argparse.ArgumentTypeError(f"{value!r} needs a UTC offset, e.g. 2026-12-01T00:00:00+00:00")
    return at


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m services.sentiment.rescore", description=__doc__)
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("--since", type=_timestamp, required=True, help="ISO 8601 with offset")
    parser.add_argument("--until", type=_timestamp, help="ISO 8601 with offset (default: now)")
    parser.add_argument("--batch-size", type=int, default=256, help="records scored and published at once")
    args = parser.parse_args(argv)
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(sys.stderr))  # stdout: the summary only
    settings = load_settings(SentimentSettings)
    scorer = build_scorer(settings, AspectTagger(load_taxonomy(settings.aspects_path)))
    if isinstance(scorer, ModelUnavailable):
        raise SystemExit(f"rescore: model unavailable: {scorer}")
    try:
        report = asyncio.run(rescore(settings, scorer, args.since, args.until, max(args.batch_size, 1)))
    except (KafkaError, OSError, TimeoutError, BrokerUnavailable, RescoreFailed) as exc:
        where = settings.kafka.bootstrap_servers
        raise SystemExit(f"rescore failed (Kafka at {where}): {exc!r}; a re-run is safe") from exc
    summary = asdict(report) | {"model": scorer.context.model.model_dump(), "since": args.since.isoformat()}
    print(json.dumps(summary | {"until": args.until.isoformat() if args.until else None}))


if __name__ == "__main__":
    main(sys.argv[1:])
