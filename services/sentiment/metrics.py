"""Sentiment's own metrics."""

from prometheus_client import Counter, Histogram, Info

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
LABELS = Counter("sentiment_labels_total", "Verdicts published, by label.", ["label"])
FLAGS = Counter("sentiment_flags_total", "Verdict flags raised, by flag.", ["flag"])
MODEL = Info("sentiment_model", "The model being served: id, version, backend.")
