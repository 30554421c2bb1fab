"""Soft 5-star training targets for polarity-only and star-labelled examples."""

from __future__ import annotations

POSITIVE = (0.0, 0.0, 0.0, 0.3, 0.7)
NEGATIVE = (0.7, 0.3, 0.0, 0.0, 0.0)
"""A review labelled only by polarity is most likely a 1 or 5 but may be a 2 or 4."""


def polarity_target(positive: bool) -> tuple[float, ...]:
    return POSITIVE if positive else NEGATIVE


def star_target(stars: int, smoothing: float = 0.2) -> tuple[float, ...]:
    """One-hot on `stars` with `smoothing` shared by the neighbouring star levels."""
    target = [0.0] * 5
    neighbours = [s for s in (stars - 1, stars + 1) if 1 <= s <= 5]
    target[stars - 1] = 1.0 - smoothing
    for s in neighbours:
        target[s - 1] = smoothing / len(neighbours)
    return tuple(target)
