"""The default model's calibrated blend with a character n-gram model on Chinese text.

The BERT stays the model: its 5-star distribution is tilted by the n-gram model's log-odds of a positive
review, `p'(k) ∝ p(k) · exp(weight · z · side(k))` with side -1/2 for 1-2 stars, 0 for 3 and +1/2 for
4-5, so the polarity log-odds become the BERT's plus `weight · z` and the star levels within a side keep
the BERT's proportions. The weight is chosen on the development split by the build (0 turns it off); the
n-gram model (character 1-3-grams, TF-IDF, logistic regression, the baseline of the model card) is
stored beside the model as `blend.npz` and computed here without scikit-learn, with the same analyzer.
"""

from __future__ import annotations

import math
import re
from array import array
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

BLEND_FILE = "blend.npz"
SIDES = np.array([-0.5, -0.5, 0.0, 0.5, 0.5], dtype=np.float64)
"""How much of the n-gram log-odds each star level (1..5) takes."""
CHINESE_SHARE = 0.5
"""The n-gram model read Chinese reviews only: it tilts a text whose letters are at least this share Han."""

_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_LATIN = re.compile(r"[A-Za-z]")
_WHITE = re.compile(r"\s\s+")


def chinese_share(text: str) -> float:
    han = len(_HAN.findall(text))
    letters = han + len(_LATIN.findall(text))
    return han / letters if letters else 0.0


def char_ngrams(text: str, low: int, high: int) -> list[str]:
    """scikit-learn's `analyzer="char"` (lowercased, runs of white space as one space)."""
    text = _WHITE.sub(" ", text.lower())
    return [text[i : i + n] for n in range(low, high + 1) for i in range(len(text) - n + 1)]


@dataclass(frozen=True)
class NgramBlend:
    index: dict[str, int]
    idf: np.ndarray
    coef: np.ndarray
    intercept: float
    low: int
    high: int
    weight: float
    _idf: array[float] = field(init=False, repr=False, compare=False)
    _weighted: array[float] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Scalar reads from array.array are plain floats, cheaper than numpy's per-element indexing for
        # the few hundred n-grams of one text; serving computes this in its tokenize step.
        object.__setattr__(self, "_idf", array("d", self.idf.tolist()))
        object.__setattr__(self, "_weighted", array("d", (self.idf * self.coef).tolist()))

    def log_odds(self, text: str) -> float:
        """The n-gram model's decision value: sublinear TF-IDF, L2-normalised, dot the coefficients."""
        columns = map(self.index.get, char_ngrams(text, self.low, self.high))
        counts = Counter(c for c in columns if c is not None)  # n-grams outside the vocabulary dropped
        if not counts:
            return self.intercept
        idf, weighted = self._idf, self._weighted
        dot = squares = 0.0
        for column, count in counts.items():
            tf = 1.0 + math.log(count)
            dot += tf * weighted[column]
            squares += (tf * idf[column]) ** 2
        return dot / math.sqrt(squares) + self.intercept

    def tilt(self, text: str) -> float:
        """The log-odds shift of one (Simplified-folded) text: 0 when the text is not mainly Chinese."""
        if self.weight == 0 or chinese_share(text) < CHINESE_SHARE:
            return 0.0
        return self.weight * self.log_odds(text)

    def save(self, directory: Path) -> None:
        """The coefficients in fp16 (the committed model directory has a size budget; a decision value
        moves by well under 0.01), the vocabulary as UTF-8 with each n-gram's length in bytes."""
        vocabulary = sorted(self.index, key=self.index.__getitem__)
        encoded = [gram.encode("utf-8") for gram in vocabulary]
        np.savez_compressed(
            directory / BLEND_FILE,
            vocabulary=np.frombuffer(b"".join(encoded), dtype=np.uint8),
            lengths=np.array([len(e) for e in encoded], dtype=np.uint8),
            idf=self.idf.astype(np.float32),
            coef=self.coef.astype(np.float16),
            scalars=np.array([self.intercept, self.low, self.high, self.weight], dtype=np.float64),
        )


def load_blend(directory: Path) -> NgramBlend | None:
    """The blend stored in a model directory, or None when it has none; raises ValueError when the file's
    arrays do not line up."""
    path = directory / BLEND_FILE
    if not path.exists():
        return None
    with np.load(path) as stored:
        data = stored["vocabulary"].tobytes()
        ends = np.cumsum(stored["lengths"].astype(np.int64)).tolist()
        starts = [0, *ends[:-1]]
        vocabulary = [data[a:b].decode("utf-8") for a, b in zip(starts, ends, strict=True)]
        idf, coef = stored["idf"].astype(np.float64), stored["coef"].astype(np.float64)
        intercept, low, high, weight = (float(v) for v in stored["scalars"])
    if not len(vocabulary) == len(idf) == len(coef) or (ends and ends[-1] != len(data)):
        raise ValueError(f"{path}: vocabulary, idf and coefficients differ in length")
    return NgramBlend(
        index={gram: i for i, gram in enumerate(vocabulary)},
        idf=idf,
        coef=coef,
        intercept=intercept,
        low=int(low),
        high=int(high),
        weight=weight,
    )


def tilted(probs: np.ndarray, tilts: np.ndarray) -> np.ndarray:
    """(n, 5) star probabilities, each row tilted by its log-odds shift (see the module docstring)."""
    if not np.any(tilts):
        return probs
    logits = np.log(np.clip(probs.astype(np.float64), 1e-12, None)) + tilts[:, None] * SIDES[None, :]
    logits -= logits.max(1, keepdims=True)
    out = np.exp(logits)
    return np.asarray(out / out.sum(1, keepdims=True), dtype=np.float32)
