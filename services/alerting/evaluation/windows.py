"""Event-time counters per (group, time bucket) in a ring of buckets, shared by every group of a rule.

Each rule keeps `k` running sums per group and bucket (e.g. samples and hits). A slot of the ring is
reused when time moves past it; an event older than the oldest bucket still held is dropped as too
late (counted by the caller). State is plain arrays, so it is snapshotted and restored as is.
"""

from __future__ import annotations

import numpy as np


class BucketRing:
    def __init__(self, bucket_s: float, buckets: int, k: int, groups: int = 64) -> None:
        self.bucket_s = bucket_s
        self.buckets = buckets
        self.k = k
        self.data = np.zeros((groups, buckets, k), dtype=np.float64)
        self.slot_bucket = np.full(buckets, -1, dtype=np.int64)
        self.newest = -1

    def bucket_of(self, time_s: np.ndarray) -> np.ndarray:
        return np.asarray(np.floor_divide(time_s, self.bucket_s), dtype=np.int64)

    def _ensure_groups(self, needed: int) -> None:
        if needed > self.data.shape[0]:
            grown = np.zeros((max(needed, 2 * self.data.shape[0]), self.buckets, self.k), dtype=np.float64)
            grown[: self.data.shape[0]] = self.data
            self.data = grown

    def add(
        self, buckets: np.ndarray, groups: np.ndarray, values: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Adds `values` (n x k) at (group, bucket). Returns the mask of rows accepted (not too late) and the
        distinct cells changed, sorted, each `group * buckets + slot`."""
        if len(buckets) == 0:
            return np.zeros(0, dtype=bool), np.zeros(0, dtype=np.int64)
        self._ensure_groups(int(groups.max()) + 1)
        first, last = int(buckets.min()), int(buckets.max())
        newest = max(self.newest, last)
        slot_bucket = self.slot_bucket.tolist()  # plain ints: the loop below touches a few slots only
        for bucket in range(max(first, newest - self.buckets + 1), last + 1):
            slot = bucket % self.buckets
            if slot_bucket[slot] < bucket:
                self.data[:, slot, :] = 0
                self.slot_bucket[slot] = bucket
        self.newest = newest
        slots = buckets % self.buckets
        accepted = (buckets > newest - self.buckets) & (self.slot_bucket[slots] == buckets)
        index, kept = groups * self.buckets + slots, values
        if not accepted.all():
            index, kept = index[accepted], values[accepted]
            if len(index) == 0:
                return np.asarray(accepted, dtype=bool), np.zeros(0, dtype=np.int64)
        # Sort once and sum each run of equal cells with one reduceat over all k columns, then one
        # fancy-indexed add: far cheaper than np.add.at or a bincount per column, and independent of
        # how many groups and buckets the ring holds.
        order = np.argsort(index, kind="stable")
        ordered = index[order]
        starts = np.flatnonzero(np.concatenate(([True], ordered[1:] != ordered[:-1])))
        cells = ordered[starts]
        flat = self.data.reshape(self.data.shape[0] * self.buckets, self.k)
        flat[cells] += np.add.reduceat(kept[order], starts, axis=0)
        return np.asarray(accepted, dtype=bool), np.asarray(cells, dtype=np.int64)

    def oldest_held(self) -> int | None:
        """The oldest bucket the ring can still hold (None before its first event): an older cell can
        never be added to or read again."""
        return None if self.newest < 0 else self.newest - self.buckets + 1

    def sums(self, groups: np.ndarray, first: int, last: int) -> np.ndarray:
        """Per group, the k sums over buckets first..last (inclusive) that the ring still holds."""
        held = (self.slot_bucket >= first) & (self.slot_bucket <= last)
        if groups.size and int(groups.max()) >= self.data.shape[0]:
            self._ensure_groups(int(groups.max()) + 1)
        return np.asarray(self.data[groups][:, held, :].sum(axis=1))

    def at(self, groups: np.ndarray, bucket: int) -> np.ndarray:
        """Per group, the k values of one bucket (zeros when the ring no longer holds it)."""
        slot = bucket % self.buckets
        if self.slot_bucket[slot] != bucket:
            return np.zeros((len(groups), self.k))
        return np.asarray(self.data[groups, slot, :])
