"""Commerce rules over purchases and refunds (commerce.events.v1): refunds as a share of orders per
business line over a window, and a VIP member's orders falling against their own baseline.

Pure: no I/O. Like the feedback rules, each keeps event-time counters in a ring of buckets, returns the
cells a batch changed for the consumer to persist with the alerts it fires, and keeps its own watermark
(the newest purchase or refund time it has seen): commerce time moves with the commerce events.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from services.alerting.evaluation.engine import Cell, Groups, Outcome, Signal
from services.alerting.evaluation.windows import BucketRing
from services.alerting.rules import AlertingConfig, OrderDropRule, RefundRateRule

DROP_STEPS = 6
"""An order-drop rule's window is counted in sixths: judged each time event time completes one."""
RATE_STEPS = 12
"""A refund-rate window slides by twelfths, as the feedback rate rules' do."""
GroupKey = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Sale:
    """A purchase or a refund as the rules see it."""

    refund: bool
    customer_id: str
    time_s: float
    dims: Mapping[str, str | None]
    """business_line, channel, store_id: "" where the order did not say, None where unknown (a refund
    whose purchase was never seen and which does not name it itself)."""


class RefundRate:
    def __init__(self, rule: RefundRateRule, lateness_s: float) -> None:
        self.rule = rule
        self.groups = Groups(rule.group_by)
        bucket_s = rule.window.total_seconds() / RATE_STEPS
        self.ring = BucketRing(bucket_s, RATE_STEPS + math.ceil(lateness_s / bucket_s) + 1, 2)
        self.watermark = 0.0

    def process(self, sales: Sequence[Sale], outcome: Outcome) -> int:
        """Counts the sales whose group is known; returns how many refunds could not be attributed."""
        dims = self.groups.dims
        rows, ids, unattributed = [], [], 0
        for row, sale in enumerate(sales):
            known = [sale.dims.get(d) for d in dims]
            if any(v is None for v in known):
                unattributed += 1
                continue
            rows.append(row)
            ids.append(self.groups.intern(tuple(zip(dims, (str(v) for v in known), strict=True))))
        if not rows:
            return unattributed
        picked = np.array(rows, dtype=np.int64)
        group_ids = np.array(ids, dtype=np.int64)
        refund = np.array([sales[r].refund for r in rows], dtype=bool)
        times = np.array([sales[r].time_s for r in rows], dtype=np.float64)
        self.watermark = max(self.watermark, float(times.max()))
        values = np.stack([~refund, refund], 1).astype(np.float64)
        accepted, cells = self.ring.add(self.ring.bucket_of(times), group_ids, values)
        outcome.late += int(len(accepted) - np.count_nonzero(accepted))
        if len(cells) == 0:
            return unattributed
        cell_groups = cells // self.ring.buckets
        outcome.dirty.append((self, cell_groups, self.ring.slot_bucket[cells % self.ring.buckets]))
        touched = np.unique(cell_groups)
        firing, rate = self.judge(touched)
        report = np.ones(len(touched), dtype=bool) if self.rule.auto_resolve_after else firing
        hits = accepted & refund
        for i in np.flatnonzero(report).tolist():
            group = int(touched[i])
            members = tuple(int(r) for r in picked[hits & (group_ids == group)])
            outcome.signals.append(
                Signal(self.rule, self.groups.keys[group], bool(firing[i]), float(rate[i]), members)
            )
        return unattributed

    def judge(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        now = int(self.watermark // self.ring.bucket_s)
        sums = self.ring.sums(ids, now - RATE_STEPS + 1, now)
        orders, refunds = sums[:, 0], sums[:, 1]
        rate = np.divide(refunds, orders, out=np.zeros(len(ids)), where=orders > 0)
        return (orders >= self.rule.min_orders) & (rate > self.rule.threshold), rate


class OrderDrop:
    def __init__(self, rule: OrderDropRule, lateness_s: float) -> None:
        self.rule = rule
        self.groups = Groups(["customer_id"])
        bucket_s = rule.window.total_seconds() / DROP_STEPS
        self.history = DROP_STEPS * (rule.baseline_windows + 1)
        self.ring = BucketRing(bucket_s, self.history + math.ceil(lateness_s / bucket_s) + 2, 1)
        self.first: dict[int, int] = {}
        """Per customer, the bucket of their first counted order (judged once a whole history passed)."""
        self.watermark = 0.0
        self.judged: int | None = None
        """The last bucket the customers were judged at; every bucket up to the watermark's was."""

    def process(self, sales: Sequence[Sale], tiers: Mapping[str, str], outcome: Outcome) -> None:
        if sales:
            self.watermark = max(self.watermark, max(s.time_s for s in sales))
        vip = set(self.rule.tiers)
        rows = [r for r, s in enumerate(sales) if not s.refund and tiers.get(s.customer_id) in vip]
        if rows:
            ids = np.array(
                [self.groups.intern((("customer_id", sales[r].customer_id),)) for r in rows], dtype=np.int64
            )
            buckets = self.ring.bucket_of(np.array([sales[r].time_s for r in rows], dtype=np.float64))
            accepted, cells = self.ring.add(buckets, ids, np.ones((len(rows), 1)))
            outcome.late += int(len(accepted) - np.count_nonzero(accepted))
            for group, bucket in zip(ids[accepted].tolist(), buckets[accepted].tolist(), strict=True):
                self.first[group] = min(self.first.get(group, bucket), bucket)
            if len(cells):
                cell_groups = cells // self.ring.buckets
                outcome.dirty.append((self, cell_groups, self.ring.slot_bucket[cells % self.ring.buckets]))
        now = int(self.watermark // self.ring.bucket_s)
        if self.judged is None or now <= self.judged or not self.first:
            self.judged = now if self.judged is None else max(self.judged, now)
            return
        self.judged = now
        members = [g for g, key in enumerate(self.groups.keys) if tiers.get(key[0][1]) in vip]
        if not members:
            return
        ids = np.array(members, dtype=np.int64)
        firing, current = self.judge(ids)
        report = np.ones(len(ids), dtype=bool) if self.rule.auto_resolve_after else firing
        outcome.signals += [
            Signal(self.rule, self.groups.keys[members[i]], bool(firing[i]), float(current[i]))
            for i in np.flatnonzero(report).tolist()
        ]

    def judge(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(firing, orders in the last window) per customer: complete buckets only."""
        rule, now = self.rule, int(self.watermark // self.ring.bucket_s)
        current = self.ring.sums(ids, now - DROP_STEPS, now - 1)[:, 0]
        baseline = self.ring.sums(ids, now - self.history, now - DROP_STEPS - 1)[:, 0] / rule.baseline_windows
        first = np.array([self.first.get(int(g), now) for g in ids], dtype=np.int64)
        ready = first <= now - self.history
        dropped = current <= baseline * (1 - rule.drop_percent / 100)
        return ready & (baseline >= rule.min_baseline_orders) & dropped, current


Compiled = RefundRate | OrderDrop


class CommerceEngine:
    def __init__(self, config: AlertingConfig) -> None:
        lateness = config.allowed_lateness.total_seconds()
        self.rules: list[Compiled] = []
        for rule in config.rules:
            if rule.enabled and isinstance(rule, RefundRateRule):
                self.rules.append(RefundRate(rule, lateness))
            elif rule.enabled and isinstance(rule, OrderDropRule):
                self.rules.append(OrderDrop(rule, lateness))
        self.remembers_orders = any(isinstance(c, RefundRate) for c in self.rules)
        """Whether purchases are remembered to attribute later refunds to their line."""

    def process(self, sales: Sequence[Sale], tiers: Mapping[str, str]) -> tuple[Outcome, int]:
        """(signals and changed cells, refunds that no refund-rate rule could attribute)."""
        outcome = Outcome()
        unattributed = 0
        for compiled in self.rules:
            if isinstance(compiled, RefundRate):
                unattributed = max(unattributed, compiled.process(sales, outcome))
            else:
                compiled.process(sales, tiers, outcome)
        return outcome, unattributed

    def restore(self, cells: Sequence[Cell], watermarks: Mapping[str, float]) -> None:
        by_rule = {c.rule.id: c for c in self.rules}
        for cell in cells:
            compiled = by_rule.get(cell.rule_id)
            if compiled is None or len(cell.values) != compiled.ring.k:
                continue
            group = compiled.groups.intern(cell.group_key)
            compiled.ring.add(
                np.array([cell.bucket]), np.array([group]), np.array([cell.values], dtype=np.float64)
            )
            if isinstance(compiled, OrderDrop):
                compiled.first[group] = min(compiled.first.get(group, cell.bucket), cell.bucket)
        for compiled in self.rules:
            compiled.watermark = max(compiled.watermark, watermarks.get(compiled.rule.id, 0.0))
            if isinstance(compiled, OrderDrop) and compiled.watermark:
                compiled.judged = int(compiled.watermark // compiled.ring.bucket_s)

    def watermarks(self) -> dict[str, float]:
        return {c.rule.id: c.watermark for c in self.rules}

    def oldest_held(self) -> dict[str, int]:
        """Per rule with events, the oldest bucket its ring can still hold."""
        held = {c.rule.id: c.ring.oldest_held() for c in self.rules}
        return {rule: bucket for rule, bucket in held.items() if bucket is not None}

    def firing_now(self, rule_id: str, group_key: GroupKey) -> bool | None:
        for compiled in self.rules:
            if compiled.rule.id == rule_id:
                group = compiled.groups.ids.get(group_key)
                if group is None:
                    return None
                return bool(compiled.judge(np.array([group]))[0][0])
        return None
