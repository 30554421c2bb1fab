"""Create every registry topic and its DLQ on the broker (idempotent). `python -m shared.kafka.admin`."""

from __future__ import annotations

import asyncio
import sys

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError

from shared.contracts.registry import TOPICS, TopicSpec
from shared.settings import KafkaSettings


def new_topics(specs: list[TopicSpec], suffix: str = "") -> list[NewTopic]:
    topics = []
    for spec in specs:
        topics.append(
            NewTopic(
                spec.name + suffix,
                spec.partitions,
                1,
                topic_configs={"retention.ms": str(spec.retention_ms), **spec.config},
            )
        )
        topics.append(
            NewTopic(
                spec.dlq + suffix,
                spec.dlq_partitions,
                1,
                topic_configs={"retention.ms": str(spec.dlq_retention_ms)},
            )
        )
    return topics


async def ensure_topics(
    settings: KafkaSettings, specs: list[TopicSpec] | None = None, attempts: int = 30
) -> list[str]:
    """Create missing topics; return the names created. Retries while the broker is starting."""
    wanted = new_topics(specs or list(TOPICS.values()), settings.topic_suffix)
    for attempt in range(attempts):
        admin = AIOKafkaAdminClient(bootstrap_servers=settings.bootstrap_servers)
        try:
            await admin.start()
            existing = set(await admin.list_topics())
            missing = [topic for topic in wanted if topic.name not in existing]
            if missing:
                await admin.create_topics(missing)
            return [topic.name for topic in missing]
        except (KafkaError, OSError):
            if attempt == attempts - 1:
                raise
            await asyncio.sleep(1.0)
        finally:
            await admin.close()
    return []


def main() -> None:
    created = asyncio.run(ensure_topics(KafkaSettings()))
    total = len(new_topics(list(TOPICS.values())))
    print(f"topics: {len(created)} created, {total - len(created)} already present", file=sys.stderr)


if __name__ == "__main__":
    main()
