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


def teacher_target(p_positive: float) -> tuple[float, ...]:
    """A polarity teacher's P(positive) as an ordinal target: expected stars 1 + 4p, spread over the two
    nearest star levels. An unsure teacher (p near 0.5) says 3 stars, not half 1 and half 5 stars: a
    student taught that bimodal mixture answers a mixed sentence with 1 or 5 stars."""
    expected = 1 + 4 * min(1.0, max(0.0, p_positive))
    low = min(int(expected), 4)
    target = [0.0] * 5
    target[low - 1] = 1 + low - expected
    target[low] = expected - low
    return tuple(target)


def distilled(gold: tuple[float, ...], p_positive: float, weight: float) -> tuple[float, ...]:
    """`gold` with `weight` of it replaced by the teacher's ordinal target."""
    return tuple((1 - weight) * g + weight * t for g, t in zip(gold, teacher_target(p_positive), strict=True))
