"""Which partitions of a consumer are stalled: records to process, and no progress for too long."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping

import structlog
from aiokafka import TopicPartition
from prometheus_client import Gauge

from shared.observability import metrics

log = structlog.get_logger(__name__)
Highwater = Callable[[TopicPartition], int | None]


class StallWatch:
    """Tracks since when each assigned partition has gone without progress, and whether it has work.

    The consumer loop is the only way any partition moves: each poll and each commit is progress for
    every partition it covers. A partition has work while its records are in hand (a batch being handled,
    retried or split) or while the broker's high watermark is past the offset last committed for it
    (known lag: the loop is busy elsewhere). It is stalled when it has work and has seen no progress for
    `stall_after_s`; an idle partition with no lag never is, however long it stays idle.
    """

    def __init__(
        self, service: str, group: str, stall_after_s: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.service, self.group, self.stall_after_s, self._clock = service, group, stall_after_s, clock
        self._since: dict[TopicPartition, float] = {}
        self._next: dict[TopicPartition, int] = {}
        self._in_hand: set[TopicPartition] = set()
        self._flagged: set[TopicPartition] = set()

    def polled(self, assigned: Iterable[TopicPartition], in_hand: Iterable[TopicPartition]) -> None:
        """The loop polled: it is moving, and now holds records of `in_hand`."""
        now, self._in_hand = self._clock(), set(in_hand)
        current = set(assigned) | self._in_hand
        for gone in set(self._since) - current:  # revoked in a rebalance: another member's concern now
            del self._since[gone]
            self._next.pop(gone, None)
        self._since.update(dict.fromkeys(current, now))

    def committed(self, offsets: Mapping[TopicPartition, int]) -> None:
        """The records in hand are resolved and `offsets` (the next offset to consume) committed."""
        now = self._clock()
        for tp, offset in offsets.items():
            self._since[tp], self._next[tp] = now, offset
        self._in_hand = set()

    def stalled(self, highwater: Highwater) -> list[TopicPartition]:
        """The partitions stalled now."""
        now = self._clock()
        return sorted(
            (
                tp
                for tp, since in self._since.items()
                if now - since > self.stall_after_s and self._has_work(tp, highwater)
            ),
            key=lambda tp: (tp.topic, tp.partition),
        )

    def publish(self, highwater: Highwater) -> list[TopicPartition]:
        """Set `kafka_consumer_stalled` for every partition that is or was stalled; log the changes."""
        stalled = set(self.stalled(highwater))
        for tp in stalled - self._flagged:
            log.error("kafka_partition_stalled", group=self.group, topic=tp.topic, partition=tp.partition)
        for tp in self._flagged - stalled:
            log.info("kafka_partition_recovered", group=self.group, topic=tp.topic, partition=tp.partition)
        for tp in stalled | self._flagged:
            self._gauge(tp).set(1 if tp in stalled else 0)
        self._flagged = stalled
        return sorted(stalled, key=lambda tp: (tp.topic, tp.partition))

    def clear(self) -> None:
        """The consumer stopped: none of its partitions is reported stalled any more."""
        for tp in self._flagged:
            self._gauge(tp).set(0)
        self._flagged = set()

    def _has_work(self, tp: TopicPartition, highwater: Highwater) -> bool:
        if tp in self._in_hand:
            return True
        end, committed = highwater(tp), self._next.get(tp)
        return end is not None and committed is not None and end > committed

    def _gauge(self, tp: TopicPartition) -> Gauge:
        return metrics.KAFKA_CONSUMER_STALLED.labels(self.service, self.group, tp.topic, str(tp.partition))
