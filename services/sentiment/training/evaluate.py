"""Held-out metrics of a 5-star predictor on the project's own test data (never the reserved 20 %)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from services.sentiment.labels import STAR_DECODINGS, StarDecoding, decode_stars
from services.sentiment.training.authored import Example

Predict = Callable[[Sequence[str]], np.ndarray]
"""texts -> (n, 5) probabilities over 1..5 stars."""


def polarity_of(probs: np.ndarray) -> np.ndarray:
    """1 where P(4-5 stars) exceeds P(1-2 stars)."""
    return (probs[:, 3:].sum(1) > probs[:, :2].sum(1)).astype(int)


def evaluate(
    predict: Predict,
    polarity_test: Sequence[tuple[str, int]],
    authored_test: Sequence[Example],
    short_test: Sequence[Example] = (),
    decoding: StarDecoding = "argmax",
) -> dict[str, float]:
    """`star_mae` and `mixed_within_2_to_4` are of the integer stars served under `decoding`."""
    metrics: dict[str, float] = {}
    probs = predict([t for t, _ in polarity_test])
    metrics["zh_reviews_polarity_accuracy"] = float(
        np.mean(polarity_of(probs) == np.array([y for _, y in polarity_test]))
    )
    metrics["zh_reviews_n"] = len(polarity_test)
    for language in ("en", "zh"):
        items = [e for e in authored_test if e.language == language]
        p = predict([e.text for e in items])
        stars = np.array([e.stars for e in items])
        predicted = decode_stars(p, decoding)
        expected = p @ np.arange(1, 6)
        polar = stars != 3
        metrics[f"{language}_authored_polarity_accuracy"] = float(
            np.mean(polarity_of(p[polar]) == (stars[polar] > 3))
        )
        metrics[f"{language}_authored_star_mae"] = float(np.mean(np.abs(predicted - stars)))
        metrics[f"{language}_authored_expected_star_mae"] = float(np.mean(np.abs(expected - stars)))
        three = np.sign(predicted - 3) == np.sign(stars - 3)
        metrics[f"{language}_authored_3class_accuracy"] = float(np.mean(three))
        mixed = np.array([e.mixed for e in items])
        for rule in STAR_DECODINGS:  # both decodings, whichever is served: what the choice changes
            decoded = decode_stars(p, rule)
            metrics[f"{language}_authored_{rule}_decoded_star_mae"] = float(np.mean(np.abs(decoded - stars)))
            metrics[f"{language}_mixed_within_2_to_4_{rule}_decoded"] = float(
                np.mean((decoded[mixed] >= 2) & (decoded[mixed] <= 4))
            )
        metrics[f"{language}_mixed_within_2_to_4"] = float(
            np.mean((predicted[mixed] >= 2) & (predicted[mixed] <= 4))
        )
        metrics[f"{language}_authored_n"] = len(items)
        shorts = [e for e in short_test if e.language == language and e.stars != 3]
        if shorts:
            p = predict([e.text for e in shorts])
            metrics[f"{language}_short_polarity_accuracy"] = float(
                np.mean(polarity_of(p) == (np.array([e.stars for e in shorts]) > 3))
            )
            metrics[f"{language}_short_n"] = len(shorts)
    return metrics
