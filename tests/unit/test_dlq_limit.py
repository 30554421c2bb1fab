"""The DLQ limit halts a consumer when invalid messages look systematic, not when they are rare."""

from __future__ import annotations

import pytest

from shared.kafka.dlq import DlqLimit, DlqLimitExceeded


def test_occasional_invalid_messages_are_tolerated():
    limit = DlqLimit(max_invalid_ratio=0.1, max_consecutive_count=5, window=100, min_sample=20)
    for i in range(1000):
        limit.record(invalid=i % 20 == 0)


def test_too_many_consecutive_invalid_messages_halt():
    limit = DlqLimit(max_consecutive_count=3)
    for _ in range(3):
        limit.record(invalid=True)
    with pytest.raises(DlqLimitExceeded, match="4 consecutive"):
        limit.record(invalid=True)


def test_a_valid_message_resets_the_consecutive_count():
    limit = DlqLimit(max_consecutive_count=3, max_invalid_ratio=1.0)
    for _ in range(10):
        limit.record(invalid=True)
        limit.record(invalid=True)
        limit.record(invalid=False)


def test_high_invalid_ratio_halts_once_the_sample_is_large_enough():
    limit = DlqLimit(max_invalid_ratio=0.5, max_consecutive_count=1000, window=100, min_sample=10)
    for _ in range(4):
        limit.record(invalid=True)
        limit.record(invalid=False)
    limit.record(invalid=True)  # 5 of 9: below the minimum sample, tolerated
    with pytest.raises(DlqLimitExceeded, match="6 of the last 10"):
        limit.record(invalid=True)


def test_events_dead_lettered_by_their_handler_count_as_invalid():
    limit = DlqLimit(max_invalid_ratio=0.5, max_consecutive_count=1000, window=100, min_sample=10)
    for _ in range(10):
        limit.record(invalid=False)  # each decoded fine
    for _ in range(5):
        limit.record_handled(dead_lettered=True)  # 5 of 10 invalid: at the ratio, not above it
    limit.record_handled(dead_lettered=False)
    with pytest.raises(DlqLimitExceeded, match="6 of the last 10"):
        limit.record_handled(dead_lettered=True)


def test_a_handler_failing_on_every_event_halts_however_small_the_batches():
    limit = DlqLimit(max_consecutive_count=3)
    for _ in range(3):  # one event per batch: decoded (valid), then dead-lettered by its handler
        limit.record(invalid=False)
        limit.record_handled(dead_lettered=True)
    limit.record(invalid=False)
    with pytest.raises(DlqLimitExceeded, match="4 consecutive events failed in their handler"):
        limit.record_handled(dead_lettered=True)


def test_an_applied_batch_resets_the_run_of_handler_failures():
    limit = DlqLimit(max_consecutive_count=3, max_invalid_ratio=1.0)
    for _ in range(10):
        for _ in range(3):
            limit.record(invalid=False)
            limit.record_handled(dead_lettered=True)
        limit.record(invalid=False)
        limit.record_handled(dead_lettered=False)
