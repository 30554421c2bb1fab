"""Mapping any classifier's label schema (5 stars, 3-way or binary polarity) onto one verdict."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

import numpy as np

from shared.contracts.feedback import SentimentLabel

Schema = Literal["stars5", "polarity3", "binary"]
StarDecoding = Literal["argmax", "expected"]
"""How a 5-star model's probabilities become an integer: the likeliest level, or the expected value rounded
(which puts a text split between 1 and 5 stars at 3). A built model records the one its dev set chose."""
STAR_DECODINGS: tuple[StarDecoding, ...] = ("argmax", "expected")
BINARY_NEUTRAL_BELOW = 0.6
"""A binary model has no neutral class: below this confidence its verdict is reported as neutral."""


POLARITIES: tuple[SentimentLabel, SentimentLabel, SentimentLabel] = ("negative", "neutral", "positive")


class UnknownLabels(ValueError):
    pass


@dataclass(frozen=True)
class LabelMap:
    """Column index of each polarity (and of each star level for 5-star models) in the model's output."""

    schema: Schema
    negative: tuple[int, ...]
    neutral: tuple[int, ...]
    positive: tuple[int, ...]
    stars: tuple[int, ...] = ()
    """For stars5: the column of 1 star, 2 stars, ... 5 stars."""
    decoding: StarDecoding = "argmax"


def decode_stars(star_probs: np.ndarray, decoding: StarDecoding) -> np.ndarray:
    """Integer stars 1-5 from (n, 5) probabilities over 1..5 stars."""
    if decoding == "expected":
        stars: np.ndarray = np.clip(np.floor(star_probs @ np.arange(1, 6) + 0.5), 1, 5).astype(int)
    else:
        stars = star_probs.argmax(1) + 1
    return stars


_STAR = re.compile(r"^\s*([1-5])\s*stars?\s*$", re.IGNORECASE)


def label_map(id2label: Mapping[int, str]) -> LabelMap:
    """Reads the schema from a checkpoint's `config.id2label`; raises UnknownLabels naming them if unknown."""
    names = {int(i): str(name) for i, name in id2label.items()}
    stars = {int(m.group(1)): i for i, name in names.items() if (m := _STAR.match(name))}
    if len(names) == 5 and sorted(stars) == [1, 2, 3, 4, 5]:
        order = tuple(stars[s] for s in range(1, 6))
        return LabelMap("stars5", order[:2], order[2:3], order[3:], order)
    polarity: dict[str, int] = {}
    for i, name in names.items():
        low = name.lower()
        for key in ("neg", "neu", "pos"):
            if low.startswith(key):
                polarity[key] = i
    if len(names) == 3 and len(polarity) == 3:
        return LabelMap("polarity3", (polarity["neg"],), (polarity["neu"],), (polarity["pos"],))
    if len(names) == 2 and set(polarity) == {"neg", "pos"}:
        return LabelMap("binary", (polarity["neg"],), (), (polarity["pos"],))
    if len(names) == 2 and set(names.values()) == {"LABEL_0", "LABEL_1"}:
        # The transformers default names of an unnamed binary head; by convention 1 is positive.
        return LabelMap("binary", (0,), (), (1,))
    raise UnknownLabels(f"cannot read a sentiment schema from id2label={names}")


@dataclass(frozen=True)
class Verdict:
    stars: int
    stars_expected: float
    label: SentimentLabel
    score: float
    confidence: float


def verdicts(probs: np.ndarray, labels: LabelMap) -> list[Verdict]:
    """One verdict per row of class probabilities."""
    neg = probs[:, list(labels.negative)].sum(1)
    neu = probs[:, list(labels.neutral)].sum(1) if labels.neutral else np.zeros(len(probs))
    pos = probs[:, list(labels.positive)].sum(1)
    polar = np.stack([neg, neu, pos], 1)
    if labels.schema == "stars5":
        star_probs = probs[:, list(labels.stars)]
        expected = star_probs @ np.arange(1, 6)
        stars = decode_stars(star_probs, labels.decoding)
    else:
        expected = 3 + 2 * (pos - neg)
        stars = np.clip(np.rint(expected), 1, 5).astype(int)
    out = []
    for row in range(len(probs)):
        best = int(polar[row].argmax())
        confidence = float(polar[row, best])
        label: SentimentLabel = POLARITIES[best]
        if labels.schema == "binary" and confidence < BINARY_NEUTRAL_BELOW:
            label = "neutral"
        out.append(
            Verdict(
                stars=int(stars[row]),
                stars_expected=round(float(np.clip(expected[row], 1, 5)), 4),
                label=label,
                score=round(float(np.clip(pos[row] - neg[row], -1, 1)), 4),
                confidence=round(confidence, 4),
            )
        )
    return out
