"""Fitting the served model's blend (services.sentiment.blend): the char n-gram baseline exported for
serving, and its weight chosen on the development split of Chinese reviews."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.pipeline import Pipeline

from services.sentiment.blend import NgramBlend, tilted
from services.sentiment.labels import StarDecoding, decode_stars
from services.sentiment.training.authored import Example
from services.sentiment.training.evaluate import Predict, polarity_of

WEIGHTS = (0.0, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0)


def exported(pipeline: Pipeline, weight: float) -> NgramBlend:
    """The fitted `baseline.char_ngram_lr` pipeline as the serving blend, with `weight`."""
    vectorizer, regression = pipeline[0], pipeline[-1]
    low, high = vectorizer.ngram_range
    return NgramBlend(
        index={str(g): int(i) for g, i in vectorizer.vocabulary_.items()},
        idf=np.asarray(vectorizer.idf_, dtype=np.float64),
        coef=np.asarray(regression.coef_[0], dtype=np.float64),
        intercept=float(regression.intercept_[0]),
        low=int(low),
        high=int(high),
        weight=weight,
    )


def with_blend(predict: Predict, blend: NgramBlend) -> Predict:
    """`predict` with the blend's tilt applied, as the serving backends apply it."""

    def blended(texts: Sequence[str]) -> np.ndarray:
        return tilted(predict(texts), np.array([blend.tilt(t) for t in texts]))

    return blended


def _mixed_share(probs: np.ndarray, decoding: StarDecoding) -> float:
    if not len(probs):
        return 1.0
    stars = decode_stars(probs, decoding)
    return float(np.mean((stars >= 2) & (stars <= 4)))


def fit_blend(
    pipeline: Pipeline,
    predict: Predict,
    dev: Sequence[tuple[str, int]],
    mixed_dev: Sequence[Example],
    decoding: StarDecoding,
) -> tuple[NgramBlend, dict[str, Any]]:
    """The weight with the best polarity accuracy on `dev` (the smaller on a tie) among those that keep as
    many of the mixed dev sentences at 2-4 stars as the BERT alone does; 0 when none beats the BERT."""
    texts, labels = [t for t, _ in dev], np.array([y for _, y in dev])
    unit = exported(pipeline, 1.0)
    probs, z = predict(texts), np.array([unit.tilt(t) for t in texts])
    mixed_texts = [e.text for e in mixed_dev]
    mixed_probs = predict(mixed_texts) if mixed_texts else np.zeros((0, 5))
    mixed_z = np.array([unit.tilt(t) for t in mixed_texts])
    kept_alone = _mixed_share(mixed_probs, decoding)
    accuracy: dict[float, float] = {}
    mixed: dict[float, float] = {}
    for weight in WEIGHTS:
        accuracy[weight] = float(np.mean(polarity_of(tilted(probs, weight * z)) == labels))
        mixed[weight] = _mixed_share(tilted(mixed_probs, weight * mixed_z), decoding)
    eligible = [w for w in WEIGHTS if mixed[w] >= kept_alone]
    chosen = max(eligible, key=lambda w: (accuracy[w], -w))
    return exported(pipeline, chosen), {
        "weight": chosen,
        "dev_polarity_accuracy_by_weight": accuracy,
        "dev_mixed_within_2_to_4_by_weight": mixed,
        "dev_reviews": len(dev),
        "dev_mixed_sentences": len(mixed_dev),
        "ngrams": len(unit.index),
    }
