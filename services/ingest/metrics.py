"""Ingest's own metrics (HTTP request counts and latency come from the shared middleware)."""

from prometheus_client import Counter, Histogram

RECORDS = Counter(
    "ingest_records_total", "Records by kind, channel and outcome.", ["kind", "channel", "outcome"]
)
REJECTIONS = Counter("ingest_rejections_total", "Requests refused, by reason.", ["reason"])
PRODUCE_LATENCY = Histogram(
    "ingest_produce_latency_seconds",
    "Time from publish to broker acknowledgement (acks=all).",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
BATCH_SIZE = Histogram(
    "ingest_batch_size_records", "Records per batch request.", buckets=(1, 10, 50, 100, 250, 500, 1000)
)
PII_MASKED = Counter("ingest_pii_masked_total", "Items of personal data masked, by kind.", ["kind"])
