"""BucketRing sums a batch into (group, bucket) cells: checked against a plain per-event loop."""

from __future__ import annotations

import numpy as np

from services.alerting.evaluation.windows import BucketRing


def reference(
    ring: BucketRing, batches: list[tuple[np.ndarray, np.ndarray, np.ndarray]]
) -> dict[tuple[int, int], np.ndarray]:
    """Per (group, bucket) the k sums of every event the ring could still hold when it arrived."""
    sums: dict[tuple[int, int], np.ndarray] = {}
    newest = -1
    for buckets, groups, values in batches:
        newest = max(newest, int(buckets.max()))
        for bucket, group, value in zip(buckets.tolist(), groups.tolist(), values, strict=True):
            if bucket > newest - ring.buckets:
                sums[(group, bucket)] = sums.get((group, bucket), np.zeros(ring.k)) + value
    return {cell: v for cell, v in sums.items() if cell[1] > newest - ring.buckets}


def test_a_batch_with_repeated_cells_late_rows_and_many_columns_sums_like_one_event_at_a_time():
    rng = np.random.default_rng(3)
    ring = BucketRing(bucket_s=60, buckets=5, k=3, groups=2)  # grows past 2 groups on the way
    batches = []
    for step in range(12):
        n = 40
        buckets = rng.integers(step, step + 4, n)
        buckets[:5] = step - 6  # too late by then: dropped
        groups, values = rng.integers(0, 9, n), rng.integers(0, 4, (n, 3)).astype(np.float64)
        accepted, cells = ring.add(buckets, groups, values)
        assert not accepted[:5].any()
        assert np.all(np.diff(cells) > 0), "changed cells come back distinct and sorted"
        changed = {(int(c) // ring.buckets, int(c) % ring.buckets) for c in cells}
        slots = buckets % ring.buckets
        assert changed == {(int(g), int(s)) for g, s in zip(groups[accepted], slots[accepted], strict=True)}
        batches.append((buckets, groups, values))
    expected = reference(ring, batches)
    for (group, bucket), value in expected.items():
        np.testing.assert_array_equal(ring.at(np.array([group]), bucket)[0], value)
    held = sum(v.sum() for v in expected.values())
    assert ring.data.sum() == held


def test_a_batch_that_is_entirely_too_late_changes_nothing():
    ring = BucketRing(bucket_s=60, buckets=3, k=2)
    ring.add(np.array([10]), np.array([0]), np.array([[1.0, 1.0]]))
    before = ring.data.copy()
    accepted, cells = ring.add(np.array([2, 3]), np.array([0, 1]), np.ones((2, 2)))
    assert not accepted.any()
    assert len(cells) == 0
    np.testing.assert_array_equal(ring.data, before)
