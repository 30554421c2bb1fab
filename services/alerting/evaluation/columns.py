"""A batch of scored feedback as columns, so each rule's condition is a few vectorised operations."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from services.alerting.rules import Condition
from shared.contracts.feedback import FeedbackScored
from shared.textfold import to_simplified

LABEL_CODES = {"negative": 0, "neutral": 1, "positive": 2}
TIER_CODES = {"bronze": 0, "silver": 1, "gold": 2, "diamond": 3}
NO_TIER = -1


@dataclass
class Columns:
    events: Sequence[FeedbackScored]
    time_s: np.ndarray
    stars: np.ndarray
    score: np.ndarray
    label: np.ndarray
    tier: np.ndarray
    nps: np.ndarray
    csat: np.ndarray
    ces: np.ndarray
    rated_stars: np.ndarray
    """The customer's own answers; NaN where not given, which no bound matches."""
    _texts: list[str] | None = None
    _masks: dict[str, np.ndarray] = field(default_factory=dict)
    cache: dict[str, object] = field(default_factory=dict)
    """Per-batch results shared by rules (e.g. group ids of a group-by)."""

    @property
    def size(self) -> int:
        return len(self.events)

    @property
    def rescored(self) -> np.ndarray:
        found = self._masks.get("rescored")
        if found is None:
            found = self._masks["rescored"] = np.fromiter(
                ("rescored" in e.flags for e in self.events), dtype=bool, count=self.size
            )
        return found

    @property
    def texts(self) -> list[str]:
        if self._texts is None:
            # Keywords and texts meet in Simplified Chinese: 生銹 counts for a rule written 生锈.
            self._texts = [to_simplified(e.text.lower()) for e in self.events]
        return self._texts

    def values(self, dimension: str) -> list[str]:
        key = "values:" + dimension
        found = self.cache.get(key)
        if found is None:
            if dimension == "feedback_id":
                found = [str(e.feedback_id) for e in self.events]
            else:
                found = [str(getattr(e, dimension) or "") for e in self.events]
            self.cache[key] = found
        return found  # type: ignore[return-value]

    def tiers_list(self) -> list[int]:
        found = self.cache.get("tiers")
        if found is None:
            found = self.cache["tiers"] = self.tier.tolist()
        return found  # type: ignore[return-value]

    def joined_text(self) -> tuple[str, np.ndarray]:
        """All lower-cased texts joined by newlines, and where each starts: one regex scan finds every
        event mentioning a keyword, instead of one search per event."""
        found = self.cache.get("joined")
        if found is None:
            texts = [t.replace("\n", " ") for t in self.texts]
            starts = np.cumsum([0] + [len(t) + 1 for t in texts[:-1]]) if texts else np.zeros(0)
            found = ("\n".join(texts), np.asarray(starts, dtype=np.int64))
            self.cache["joined"] = found
        return found  # type: ignore[return-value]


def columns(events: Sequence[FeedbackScored], tiers: Mapping[str, str]) -> Columns:
    """`tiers`: the member tier by customer id, as last heard from loyalty."""
    return Columns(
        events=events,
        time_s=np.array([e.occurred_at.timestamp() for e in events], dtype=np.float64),
        stars=np.array([e.stars for e in events], dtype=np.int8),
        score=np.array([e.score for e in events], dtype=np.float32),
        label=np.array([LABEL_CODES[e.label] for e in events], dtype=np.int8),
        tier=np.array([TIER_CODES.get(tiers.get(e.customer_id, ""), NO_TIER) for e in events], dtype=np.int8),
        nps=np.array([np.nan if e.nps is None else e.nps for e in events], dtype=np.float32),
        csat=np.array([np.nan if e.csat is None else e.csat for e in events], dtype=np.float32),
        ces=np.array([np.nan if e.ces is None else e.ces for e in events], dtype=np.float32),
        rated_stars=np.array(
            [np.nan if e.rated_stars is None else e.rated_stars for e in events], dtype=np.float32
        ),
    )


def _in(values: list[str], allowed: list[str]) -> np.ndarray:
    wanted = set(allowed)
    return np.fromiter((v in wanted for v in values), dtype=bool, count=len(values))


def _aspects(batch: Columns, names: list[str], label: str | None) -> np.ndarray:
    wanted = set(names)
    return np.fromiter(
        (
            any(a.name in wanted and (label is None or a.label == label) for a in e.aspects)
            for e in batch.events
        ),
        dtype=bool,
        count=batch.size,
    )


def _flagged(batch: Columns, flags: frozenset[str]) -> np.ndarray:
    return np.fromiter((not flags.isdisjoint(e.flags) for e in batch.events), dtype=bool, count=batch.size)


def _keywords(batch: Columns, pattern: re.Pattern[str]) -> np.ndarray:
    text, starts = batch.joined_text()
    mask = np.zeros(batch.size, dtype=bool)
    positions = [m.start() for m in pattern.finditer(text)]
    if positions:
        mask[np.searchsorted(starts, np.array(positions), side="right") - 1] = True
    return mask


Check = Callable[[Columns], np.ndarray]


def _numeric(column: str, op: str, bound: float) -> Check:
    def check(batch: Columns) -> np.ndarray:
        values = getattr(batch, column)
        return np.asarray(values <= bound if op == "<=" else values >= bound)

    return check


def _codes(column: str, allowed: list[int]) -> Check:
    codes = np.array(allowed, dtype=np.int8)
    return lambda batch: np.isin(getattr(batch, column), codes)


def _member(dimension: str, allowed: list[str]) -> Check:
    return lambda batch: _in(batch.values(dimension), allowed)


def _bounds(c: Condition) -> list[Check]:
    """The model's verdict and the customer's own answers against their bounds."""
    bounds = (
        ("stars", "<=", c.stars_max),
        ("stars", ">=", c.stars_min),
        ("score", "<=", c.score_max),
        ("rated_stars", "<=", c.rated_stars_max),
        ("csat", "<=", c.csat_max),
        ("nps", "<=", c.nps_max),
        ("ces", ">=", c.ces_min),
    )
    return [_numeric(column, op, bound) for column, op, bound in bounds if bound is not None]


def _memberships(c: Condition) -> list[Check]:
    """Labels, tiers and the feedback's places, each among the values listed."""
    parts: list[Check] = []
    if c.labels:
        parts.append(_codes("label", [LABEL_CODES[label] for label in c.labels]))
    if c.tiers:
        parts.append(_codes("tier", [TIER_CODES[t] for t in c.tiers]))
    places = (
        ("channel", c.channels),
        ("business_line", c.business_lines),
        ("region", c.regions),
        ("store_id", c.store_ids),
    )
    parts.extend(_member(dimension, list(allowed)) for dimension, allowed in places if allowed)
    return parts


def compile_condition(condition: Condition) -> Check:
    """A function from a batch to the boolean mask of events meeting `condition` (memoised per batch)."""
    key = condition.model_dump_json(exclude_defaults=True)
    c = condition
    parts = [*_bounds(c), *_memberships(c)]
    if c.aspects:
        aspects, aspect_label = list(c.aspects), c.aspect_label
        parts.append(lambda b: _aspects(b, aspects, aspect_label))
    if c.flags:
        flags = frozenset(c.flags)
        parts.append(lambda b: _flagged(b, flags))
    if c.keywords:
        pattern = re.compile("|".join(re.escape(to_simplified(w.lower())) for w in c.keywords))
        parts.append(lambda b: _keywords(b, pattern))
    alternatives = [compile_condition(alt) for alt in c.any_of or []]

    def check(batch: Columns) -> np.ndarray:
        cached = batch._masks.get(key)
        if cached is not None:
            return cached
        mask = np.ones(batch.size, dtype=bool)
        for part in parts:
            mask &= part(batch)
        if alternatives:
            either = np.zeros(batch.size, dtype=bool)
            for alternative in alternatives:
                either |= alternative(batch)
            mask &= either
        batch._masks[key] = mask
        return mask

    return check
