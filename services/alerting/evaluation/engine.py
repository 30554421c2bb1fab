"""Rule evaluation over batches of scored feedback: per-feedback matches and event-time windows.

Pure: no I/O. `RuleEngine.process` takes a batch, updates every rule's window counters and returns
signals (firing or clear, per rule and group) plus the window cells it changed, which the caller
persists in the same transaction as the alerts so that a restart resumes exactly where it was.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple, Protocol

import numpy as np

from services.alerting.evaluation.columns import Columns, compile_condition
from services.alerting.evaluation.windows import BucketRing
from services.alerting.rules import (
    AlertingConfig,
    BaselineSpikeRule,
    CountRule,
    PerFeedbackRule,
    RuleBase,
    RuleCore,
    ScoreBenchmarkRule,
    ScoreTrendRule,
    WindowedRateRule,
)

DAY_S = 86400.0
GroupKey = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Signal:
    rule: RuleCore
    group_key: tuple[tuple[str, str], ...]
    firing: bool
    value: float
    rows: tuple[int, ...] = ()
    """Batch rows that matched in this group (evidence; their count adds to the alert's count)."""
    max_tier: int = -1


class Cell(NamedTuple):
    """One window counter cell (a tuple: batches change tens of thousands of them)."""

    rule_id: str
    group_key: tuple[tuple[str, str], ...]
    bucket: int
    values: tuple[float, ...]


class Counted(Protocol):
    """A rule with window counters: its ring, its groups and the rule itself."""

    @property
    def rule(self) -> RuleCore: ...
    @property
    def ring(self) -> BucketRing | None: ...
    @property
    def groups(self) -> Groups: ...


@dataclass
class Outcome:
    signals: list[Signal] = field(default_factory=list)
    dirty: list[tuple[Counted, np.ndarray, np.ndarray]] = field(default_factory=list)
    """Per rule, the (group, bucket) pairs whose counters changed."""
    late: int = 0

    def cells(self) -> list[Cell]:
        """The changed window cells with their current sums, to persist with the batch."""
        out = []
        for compiled, groups, buckets in self.dirty:
            ring = compiled.ring
            assert ring is not None
            values = ring.data[groups, buckets % ring.buckets, :].tolist()
            keys, rule_id = compiled.groups.keys, compiled.rule.id
            out += [
                Cell(rule_id, keys[g], b, tuple(v))
                for g, b, v in zip(groups.tolist(), buckets.tolist(), values, strict=True)
            ]
        return out


class Groups:
    """Interned group keys of one rule (dense ids for the counters)."""

    def __init__(self, dims: Sequence[str]) -> None:
        self.dims = sorted(dims)
        """Canonical order: a key is its (dimension, value) pairs sorted, as restored cells are."""
        self.ids: dict[tuple[tuple[str, str], ...], int] = {}
        self.keys: list[tuple[tuple[str, str], ...]] = []
        self._by_values: dict[tuple[str, ...], int] = {}

    def intern(self, key: tuple[tuple[str, str], ...]) -> int:
        found = self.ids.get(key)
        if found is None:
            found = self.ids[key] = len(self.keys)
            self.keys.append(key)
        return found

    def of(self, batch: Columns) -> tuple[np.ndarray, np.ndarray]:
        """(rows, group ids) of every event of the batch, computed once per batch for all rules grouping
        the same way; grouped by aspect, an event counts once per aspect it mentions."""
        cache_key = "groups:" + ",".join(self.dims)
        cached = batch.cache.get(cache_key)
        if cached is not None:
            return cached  # type: ignore[return-value]
        plain = [d for d in self.dims if d != "aspect"]
        columns = [batch.values(d) for d in plain]
        rows_values: list[tuple[str, ...]] = (
            list(zip(*columns, strict=True)) if columns else [()] * batch.size
        )
        out_rows: list[int] = []
        out_ids: list[int] = []
        if "aspect" in self.dims:
            for row, values in enumerate(rows_values):
                base = tuple(zip(plain, values, strict=True))
                for name in sorted({a.name for a in batch.events[row].aspects}):
                    out_rows.append(row)
                    out_ids.append(self.intern(tuple(sorted((*base, ("aspect", name))))))
        else:
            by_values = self._by_values  # values alone are looked up: no pairs built per event
            for values in rows_values:
                found = by_values.get(values)
                if found is None:
                    found = by_values[values] = self.intern(tuple(zip(plain, values, strict=True)))
                out_ids.append(found)
            out_rows = list(range(batch.size))
        result = np.array(out_rows, dtype=np.int64), np.array(out_ids, dtype=np.int64)
        batch.cache[cache_key] = result
        return result


class CompiledRule:
    def __init__(self, rule: RuleBase, lateness_s: float, groups: Groups) -> None:
        self.rule = rule
        self.filter = compile_condition(rule.filter)
        self.match = compile_condition(rule.match) if hasattr(rule, "match") else None
        self.groups = groups
        match = rule.match.model_dump_json() if isinstance(rule, PerFeedbackRule) else ""
        self.condition_key = f"{','.join(groups.dims)}|{rule.filter.model_dump_json()}|{match}"
        self.ring: BucketRing | None = None
        self.watermark = 0.0
        """Newest event time this rule has seen (persisted per rule, so rules never share a clock)."""
        self.first_bucket: int | None = None
        if isinstance(rule, WindowedRateRule | CountRule):
            bucket_s = rule.window.total_seconds() / 12
            self.span = 12
            self.ring = BucketRing(bucket_s, 12 + math.ceil(lateness_s / bucket_s) + 1, 2)
        elif isinstance(rule, BaselineSpikeRule):
            bucket_s = rule.window.total_seconds()
            self.per_day = round(DAY_S / bucket_s)
            self.ring = BucketRing(bucket_s, rule.baseline_days * self.per_day + 2, 1)
        elif isinstance(rule, ScoreBenchmarkRule):
            self.ring = BucketRing(DAY_S, rule.days + 2, 3 if rule.metric == "nps" else 2)
        elif isinstance(rule, ScoreTrendRule):
            self.ring = BucketRing(DAY_S, 2 * rule.days + 2, 3 if rule.metric == "nps" else 2)

    def values(self, batch: Columns, rows: np.ndarray, matched: np.ndarray) -> np.ndarray:
        rule = self.rule
        if isinstance(rule, ScoreBenchmarkRule | ScoreTrendRule):
            if rule.metric == "nps":
                nps = batch.nps[rows]
                return np.stack([np.ones(len(rows)), nps >= 9, nps <= 6], 1).astype(np.float64)
            answers = getattr(batch, rule.metric)[rows]  # csat or ces: their mean
            return np.stack([np.ones(len(rows)), answers], 1).astype(np.float64)
        if isinstance(rule, BaselineSpikeRule):
            return np.ones((len(rows), 1))
        return np.stack([np.ones(len(rows)), matched[rows]], 1).astype(np.float64)

    def interesting(self, batch: Columns) -> np.ndarray:
        """Mask of the batch's events this rule counts. A re-scored verdict is not counted again: a
        feedback counts once in windows, rates, spikes and benchmarks (by the verdict it had first); a
        re-score only adds evidence to the per-feedback cases it matches."""
        mask: np.ndarray = self.filter(batch) & ~batch.rescored
        if isinstance(self.rule, ScoreBenchmarkRule | ScoreTrendRule):
            mask = mask & ~np.isnan(getattr(batch, self.rule.metric))
        elif isinstance(self.rule, CountRule) and self.match is not None:
            mask = mask & self.match(batch)
        return mask

    def judge(self, ids: np.ndarray, watermark: float) -> tuple[np.ndarray, np.ndarray]:
        """(firing, value) per group id at the watermark."""
        ring, rule = self.ring, self.rule
        assert ring is not None
        now = int(watermark // ring.bucket_s)
        if isinstance(rule, WindowedRateRule):
            sums = ring.sums(ids, now - self.span + 1, now)
            rate = np.divide(sums[:, 1], sums[:, 0], out=np.zeros(len(ids)), where=sums[:, 0] > 0)
            return (sums[:, 0] >= rule.min_samples) & (rate > rule.threshold), rate
        if isinstance(rule, CountRule):
            count = ring.sums(ids, now - self.span + 1, now)[:, 0]
            return count > rule.threshold, count
        if isinstance(rule, BaselineSpikeRule):
            current = ring.at(ids, now)[:, 0]
            history = sum(
                ring.at(ids, now - d * self.per_day)[:, 0] for d in range(1, rule.baseline_days + 1)
            )
            baseline = np.asarray(history, dtype=np.float64) / rule.baseline_days
            ready = (
                self.first_bucket is not None and now - self.first_bucket >= rule.baseline_days * self.per_day
            )
            return (current >= rule.min_count) & (current > rule.factor * baseline) & ready, current
        if isinstance(rule, ScoreTrendRule):
            return self._trend(rule, ids, now)
        assert isinstance(rule, ScoreBenchmarkRule)
        firing = np.ones(len(ids), dtype=bool)
        latest = np.zeros(len(ids))
        for back in range(rule.days, 0, -1):
            day = ring.at(ids, now - back)
            count = day[:, 0]
            score = (
                np.divide(100 * (day[:, 1] - day[:, 2]), count, out=np.zeros(len(ids)), where=count > 0)
                if rule.metric == "nps"
                else np.divide(day[:, 1], count, out=np.zeros(len(ids)), where=count > 0)
            )
            # CES counts effort: the higher, the worse; NPS and CSAT the other way round
            breached = score > rule.benchmark if rule.metric == "ces" else score < rule.benchmark
            firing &= (count >= rule.min_samples) & breached
            latest = score
        return firing, latest

    def _trend(self, rule: ScoreTrendRule, ids: np.ndarray, now: int) -> tuple[np.ndarray, np.ndarray]:
        """(firing, the last period's score): each period's score from its summed days."""
        ring = self.ring
        assert ring is not None
        last = ring.sums(ids, now - rule.days, now - 1)
        before = ring.sums(ids, now - 2 * rule.days, now - rule.days - 1)
        current, previous = _score(rule.metric, last), _score(rule.metric, before)
        worse = previous - current if rule.metric != "ces" else current - previous
        enough = (last[:, 0] >= rule.min_samples) & (before[:, 0] >= rule.min_samples)
        firing = np.zeros(len(ids), dtype=bool)
        if rule.drop_points is not None:
            firing |= worse >= rule.drop_points
        if rule.drop_percent is not None:
            firing |= worse >= np.abs(previous) * rule.drop_percent / 100
        return enough & firing & (worse > 0), current


def _score(metric: str, sums: np.ndarray) -> np.ndarray:
    """NPS from (answers, promoters, detractors); a mean from (answers, sum) for CSAT and CES."""
    count = sums[:, 0]
    top = 100 * (sums[:, 1] - sums[:, 2]) if metric == "nps" else sums[:, 1]
    score: np.ndarray = np.divide(top, count, out=np.zeros(len(count)), where=count > 0)
    return score


class RuleEngine:
    def __init__(self, config: AlertingConfig) -> None:
        lateness = config.allowed_lateness.total_seconds()
        shared: dict[tuple[str, ...], Groups] = {}
        self.rules = [
            CompiledRule(rule, lateness, shared.setdefault(tuple(rule.group_by), Groups(rule.group_by)))
            for rule in config.rules
            if rule.enabled and isinstance(rule, RuleBase)
        ]

    def process(self, batch: Columns) -> Outcome:
        outcome = Outcome()
        if batch.size == 0:
            return outcome
        newest = float(batch.time_s.max())
        for compiled in self.rules:
            compiled.watermark = max(compiled.watermark, newest)
            if isinstance(compiled.rule, PerFeedbackRule):
                self._per_feedback(compiled, batch, outcome)
            else:
                self._windowed(compiled, batch, outcome)
        return outcome

    def _per_feedback(self, compiled: CompiledRule, batch: Columns, outcome: Outcome) -> None:
        # Rules with the same conditions and grouping share one grouping of the batch.
        cache_key = "per_feedback:" + compiled.condition_key
        groups = batch.cache.get(cache_key)
        if groups is None:
            assert compiled.match is not None
            rows = np.flatnonzero(compiled.filter(batch) & compiled.match(batch)).tolist()
            dims = compiled.groups.dims
            columns = [[col[row] for row in rows] for col in (batch.values(d) for d in dims)]
            by_group: dict[GroupKey, list[int]] = {}
            for row, values in zip(
                rows, zip(*columns, strict=True) if columns else [()] * len(rows), strict=True
            ):
                by_group.setdefault(tuple(zip(dims, values, strict=True)), []).append(row)
            tiers = batch.tiers_list()
            groups = batch.cache[cache_key] = [
                (key, tuple(members), max(tiers[i] for i in members)) for key, members in by_group.items()
            ]
        rule = compiled.rule
        outcome.signals += [
            Signal(rule, key, True, float(len(members)), members, tier)
            for key, members, tier in groups  # type: ignore[attr-defined]
        ]

    def _windowed(self, compiled: CompiledRule, batch: Columns, outcome: Outcome) -> None:
        ring = compiled.ring
        assert ring is not None
        all_rows, all_ids = compiled.groups.of(batch)
        keep = compiled.interesting(batch)[all_rows]
        rows, ids = all_rows[keep], all_ids[keep]
        if len(rows) == 0:
            return
        matched = compiled.match(batch) if compiled.match is not None else np.ones(batch.size, dtype=bool)
        buckets = ring.bucket_of(batch.time_s[rows])
        accepted, cells = ring.add(buckets, ids, compiled.values(batch, rows, matched))
        outcome.late += int(len(accepted) - np.count_nonzero(accepted))
        if len(cells) == 0:
            return
        first = int(buckets.min())
        compiled.first_bucket = first if compiled.first_bucket is None else min(compiled.first_bucket, first)
        cell_groups = cells // ring.buckets
        outcome.dirty.append((compiled, cell_groups, ring.slot_bucket[cells % ring.buckets]))
        # cells are sorted, so their groups are too: distinct groups without another sort
        touched = cell_groups[np.concatenate(([True], cell_groups[1:] != cell_groups[:-1]))]
        firing, value = compiled.judge(touched, compiled.watermark)
        report = np.ones(len(touched), dtype=bool) if compiled.rule.auto_resolve_after else firing
        if not report.any():
            return
        hit = accepted & matched[rows]
        order = np.argsort(ids[hit], kind="stable")
        hit_rows, hit_ids = rows[hit][order], ids[hit][order]
        starts = np.searchsorted(hit_ids, touched)
        ends = np.searchsorted(hit_ids, touched, side="right")
        # Highest member tier per touched group in one pass: every hit's group is a touched group and
        # the hits are sorted by group, so the non-empty segments start where their groups do.
        tier = np.full(len(touched), -1, dtype=np.int64)
        some = ends > starts
        if some.any():
            tier[some] = np.maximum.reduceat(batch.tier[hit_rows].astype(np.int64), starts[some])
        members, keys, rule = hit_rows.tolist(), compiled.groups.keys, compiled.rule
        begin, end, groups = starts.tolist(), ends.tolist(), touched.tolist()
        fire, amount, tiers = firing.tolist(), value.tolist(), tier.tolist()
        outcome.signals += [
            Signal(rule, keys[groups[i]], fire[i], amount[i], tuple(members[begin[i] : end[i]]), tiers[i])
            for i in np.flatnonzero(report).tolist()
        ]

    def restore(self, cells: Sequence[Cell], watermarks: Mapping[str, float]) -> None:
        """Loads persisted window cells and each rule's watermark (after a restart)."""
        by_rule = {c.rule.id: c for c in self.rules}
        for cell in cells:
            compiled = by_rule.get(cell.rule_id)
            if compiled is None or compiled.ring is None or len(cell.values) != compiled.ring.k:
                continue
            group = compiled.groups.intern(cell.group_key)
            compiled.ring.add(
                np.array([cell.bucket]), np.array([group]), np.array([cell.values], dtype=np.float64)
            )
            compiled.first_bucket = (
                cell.bucket if compiled.first_bucket is None else min(compiled.first_bucket, cell.bucket)
            )
        for compiled in self.rules:
            compiled.watermark = max(compiled.watermark, watermarks.get(compiled.rule.id, 0.0))

    def watermarks(self) -> dict[str, float]:
        return {c.rule.id: c.watermark for c in self.rules}

    def oldest_held(self) -> dict[str, int]:
        """Per windowed rule with events, the oldest bucket its ring can still hold."""
        held = {c.rule.id: c.ring.oldest_held() if c.ring is not None else None for c in self.rules}
        return {rule: bucket for rule, bucket in held.items() if bucket is not None}

    def firing_now(self, rule_id: str, group_key: tuple[tuple[str, str], ...]) -> bool | None:
        """Whether a windowed rule's condition holds for a group at the current watermark (None: unknown)."""
        for compiled in self.rules:
            if compiled.rule.id == rule_id and compiled.ring is not None:
                group = compiled.groups.ids.get(group_key)
                if group is None:
                    return None
                return bool(compiled.judge(np.array([group]), compiled.watermark)[0][0])
        return None


def group_dict(key: tuple[tuple[str, str], ...]) -> Mapping[str, str]:
    return dict(key)
