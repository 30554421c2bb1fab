"""Re-publish dead-lettered records to the topic they came from, once the cause is fixed.

    python -m shared.kafka.replay --topic feedback.received.v1.dlq [--dry-run]
        [--reason SUBSTRING] [--from-offset N] [--to-offset M] [--bootstrap HOST:PORT]

Reads the DLQ from `--from-offset` up to its end as it was when the command started (records that
arrive meanwhile wait for the next run), and sends each selected record's original key, value and
headers — without the `dlq.*` ones, plus `dlq.replayed_from` — to `dlq.original.topic`. Consumers
deduplicate on `event_id`, so replaying a record twice applies it once.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from dataclasses import dataclass, field

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import UnknownTopicOrPartitionError
from aiokafka.structs import ConsumerRecord

from shared.kafka.producer import EventProducer
from shared.settings import KafkaSettings

DLQ_PREFIX = "dlq."


@dataclass(frozen=True)
class Selection:
    """Which DLQ records to replay: offsets [from_offset, to_offset] and a substring of `dlq.error`."""

    reason: str | None = None
    from_offset: int = 0
    to_offset: int | None = None

    def admits(self, offset: int, error: str) -> bool:
        in_range = offset >= self.from_offset and (self.to_offset is None or offset <= self.to_offset)
        return in_range and (self.reason is None or self.reason in error)


@dataclass
class ReplayReport:
    read: int = 0
    replayed: dict[str, int] = field(default_factory=dict)
    """Records sent (or, in a dry run, that would be sent) per original topic."""
    skipped: int = 0


def original_headers(headers: list[tuple[str, bytes]], dlq: str, offset: int) -> list[tuple[str, bytes]]:
    kept = [(k, v) for k, v in headers if not k.startswith(DLQ_PREFIX)]
    return [*kept, ("dlq.replayed_from", f"{dlq}:{offset}".encode())]


async def _snapshot(consumer: AIOKafkaConsumer, dlq: str, start: int) -> dict[TopicPartition, int]:
    """Assigns every partition of `dlq` from `start`; returns the end offsets to stop at."""
    partitions = [TopicPartition(dlq, p) for p in sorted(consumer.partitions_for_topic(dlq) or ())]
    if not partitions:
        raise SystemExit(f"no such topic: {dlq}")
    consumer.unsubscribe()
    consumer.assign(partitions)
    ends: dict[TopicPartition, int] = await consumer.end_offsets(partitions)
    for tp in partitions:
        consumer.seek(tp, start)
    return {tp: end for tp, end in ends.items() if end > start}


async def replay(
    settings: KafkaSettings, dlq: str, selection: Selection, dry_run: bool = False
) -> ReplayReport:
    """Replays the selected records; with dry_run only counts them. Returns what it did."""
    consumer = AIOKafkaConsumer(  # subscribed only to learn the DLQ's partitions, then assigned
        dlq, bootstrap_servers=settings.bootstrap_servers, enable_auto_commit=False, group_id=None
    )
    try:
        await consumer.start()
    except UnknownTopicOrPartitionError as exc:
        await consumer.stop()
        raise SystemExit(f"no such topic: {dlq}") from exc
    producer = EventProducer(settings, "dlq-replay")
    if not dry_run:
        await producer.start()
        await producer.wait_connected(30)
    report = ReplayReport()
    try:
        pending = await _snapshot(consumer, dlq, selection.from_offset)
        while pending:
            for tp, records in (await consumer.getmany(*pending, timeout_ms=1000)).items():
                for record in records:
                    if record.offset >= pending.get(tp, 0):
                        break
                    report.read += 1
                    await _one(producer, record, dlq, selection, dry_run, report)
                if await consumer.position(tp) >= pending[tp]:
                    del pending[tp]
    finally:
        await consumer.stop()
        if not dry_run:
            await producer.stop()
    return report


async def _one(
    producer: EventProducer,
    record: ConsumerRecord,
    dlq: str,
    sel: Selection,
    dry_run: bool,
    report: ReplayReport,
) -> None:
    headers = list(record.headers or ())
    named = dict(headers)
    error = named.get("dlq.error", b"").decode(errors="replace")
    target = named.get("dlq.original.topic", b"").decode()
    offset: int = record.offset
    if not target or not sel.admits(offset, error):
        report.skipped += 1
        return
    if not dry_run:
        await producer.send_raw_many(
            target, [(record.key, record.value, original_headers(headers, dlq, offset))]
        )
    report.replayed[target] = report.replayed.get(target, 0) + 1


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m shared.kafka.replay", description=__doc__.split("\n")[0])
    parser.add_argument("--topic", required=True, help="the DLQ, e.g. feedback.received.v1.dlq")
    parser.add_argument("--dry-run", action="store_true", help="count what would be replayed, send nothing")
    parser.add_argument("--reason", help="only records whose dlq.error contains this")
    parser.add_argument("--from-offset", type=int, default=0)
    parser.add_argument("--to-offset", type=int, help="inclusive")
    parser.add_argument("--bootstrap", help="default: KAFKA_BOOTSTRAP_SERVERS")
    args = parser.parse_args(argv)
    settings = KafkaSettings(**({"bootstrap_servers": args.bootstrap} if args.bootstrap else {}))
    selection = Selection(args.reason, args.from_offset, args.to_offset)
    report = asyncio.run(replay(settings, args.topic, selection, args.dry_run))
    verb = "would replay" if args.dry_run else "replayed"
    targets = ", ".join(f"{n} to {t}" for t, n in report.replayed.items()) or "nothing"
    print(f"read {report.read} from {args.topic}; {verb} {targets}; skipped {report.skipped}")


if __name__ == "__main__":
    main(sys.argv[1:])
