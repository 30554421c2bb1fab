"""Sentiment's own metrics."""

import re

from prometheus_client import Counter, Histogram, Info

_BUSINESS_LINE = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}")

INFERENCE_SECONDS = Histogram(
    "sentiment_inference_duration_seconds",
    "Time to tokenize and score one micro-batch.",
    ["backend"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
)
BATCH_SIZE = Histogram(
    "sentiment_batch_size", "Texts per inference batch.", buckets=(1, 2, 4, 8, 16, 32, 64, 128)
)
TEXTS = Counter("sentiment_texts_scored_total", "Texts run through the model (rate = texts/s).")
LABELS = Counter(
    "sentiment_labels_total", "Verdicts published, by business line and label.", ["business_line", "label"]
)
STARS = Histogram(
    "sentiment_stars",
    "Stars of each verdict, by business line (average = sum / count).",
    ["business_line"],
    buckets=(1, 2, 3, 4, 5),
)
FLAGS = Counter("sentiment_flags_total", "Verdict flags raised, by flag.", ["flag"])
MODEL = Info("sentiment_model", "The model being served: id, version, backend.")


def business_line_label(value: str | None) -> str:
    """The business line as a metric label: client-supplied, so anything unusual collapses to `other`."""
    if value is None:
        return "none"
    return value if _BUSINESS_LINE.fullmatch(value) else "other"
