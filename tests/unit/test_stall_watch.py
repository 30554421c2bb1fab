"""Stall detection on a virtual clock: a partition with work and no progress is stalled, an idle one never."""

from __future__ import annotations

from aiokafka import TopicPartition
from prometheus_client import REGISTRY

from shared.kafka.stalls import StallWatch

A, B = TopicPartition("commerce.events.v1", 0), TopicPartition("commerce.events.v1", 1)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def watch(clock: Clock, group: str = "loyalty") -> StallWatch:
    return StallWatch("tests", group, stall_after_s=120, clock=clock)


def no_highwater(tp: TopicPartition) -> int | None:
    return None


def test_a_batch_in_hand_without_progress_stalls_its_partition_after_the_threshold():
    clock = Clock()
    stalls = watch(clock)
    stalls.polled([A, B], in_hand=[A])
    clock.now += 120
    assert stalls.stalled(no_highwater) == []
    clock.now += 1
    assert stalls.stalled(no_highwater) == [A]


def test_an_idle_partition_without_lag_is_never_stalled():
    clock = Clock()
    stalls = watch(clock)
    stalls.polled([A], in_hand=[A])
    stalls.committed({A: 10})
    clock.now += 3600
    assert stalls.stalled(lambda tp: 10) == []


def test_a_partition_with_lag_stalls_while_the_loop_is_stuck_on_another():
    clock = Clock()
    stalls = watch(clock)
    stalls.polled([A, B], in_hand=[A, B])
    stalls.committed({A: 5, B: 7})
    stalls.polled([A, B], in_hand=[A])  # the loop now holds A's next batch, which keeps failing
    clock.now += 121
    highwater = {A: 9, B: 12}  # B's new records wait behind A's batch
    assert stalls.stalled(highwater.get) == [A, B]
    assert stalls.stalled({A: 9, B: 7}.get) == [A]  # B caught up: nothing for it to do


def test_progress_clears_the_stall():
    clock = Clock()
    stalls = watch(clock)
    stalls.polled([A], in_hand=[A])
    clock.now += 500
    assert stalls.stalled(no_highwater) == [A]
    stalls.committed({A: 3})
    assert stalls.stalled(lambda tp: 3) == []
    clock.now += 500
    assert stalls.stalled(lambda tp: 3) == []


def test_the_gauge_follows_the_stall_and_is_cleared_on_stop():
    clock = Clock()
    stalls = watch(clock, group="gauge-test")
    labels = {"service": "tests", "group": "gauge-test", "topic": A.topic, "partition": "0"}
    stalls.polled([A], in_hand=[A])
    assert stalls.publish(no_highwater) == []
    clock.now += 121
    assert stalls.publish(no_highwater) == [A]
    assert REGISTRY.get_sample_value("kafka_consumer_stalled", labels) == 1
    stalls.committed({A: 1})
    stalls.publish(lambda tp: 1)
    assert REGISTRY.get_sample_value("kafka_consumer_stalled", labels) == 0
    stalls.polled([A], in_hand=[A])
    clock.now += 121
    stalls.publish(no_highwater)
    stalls.clear()
    assert REGISTRY.get_sample_value("kafka_consumer_stalled", labels) == 0


def test_a_revoked_partition_is_forgotten():
    clock = Clock()
    stalls = watch(clock)
    stalls.polled([A, B], in_hand=[B])
    stalls.committed({B: 5})
    stalls.polled([A], in_hand=[])  # B, lagging, went to another member in a rebalance
    clock.now += 500
    assert stalls.stalled(lambda tp: 100) == []
