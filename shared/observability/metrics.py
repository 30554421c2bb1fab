"""Every metric the shared runtime exports; each carries a low-cardinality `service` label."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

HTTP_REQUESTS = Counter(
    "http_requests_total", "HTTP requests served.", ["service", "method", "route", "status"]
)
HTTP_LATENCY = Histogram(
    "http_request_duration_seconds",
    "HTTP request latency.",
    ["service", "method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
KAFKA_CONSUMED = Counter(
    "kafka_consumed_messages_total", "Records consumed and committed.", ["service", "topic"]
)
KAFKA_PRODUCED = Counter(
    "kafka_produced_messages_total", "Records acknowledged by the broker.", ["service", "topic"]
)
KAFKA_PRODUCE_FAILURES = Counter(
    "kafka_produce_failures_total", "Records the broker did not acknowledge.", ["service", "topic"]
)
KAFKA_DLQ = Counter(
    "kafka_dlq_messages_total",
    "Records sent to the dead-letter topic, by cause: invalid, poison, deterministic, unknown.",
    ["service", "topic", "cause"],
)
KAFKA_LAG = Gauge(
    "kafka_consumer_lag_messages",
    "High watermark minus committed position, per partition.",
    ["service", "group", "topic", "partition"],
)
KAFKA_HANDLER_LATENCY = Histogram(
    "kafka_handler_duration_seconds",
    "Time a handler took for one batch.",
    ["service", "group"],
    buckets=(0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30),
)
KAFKA_HANDLER_RETRIES = Counter(
    "kafka_handler_retries_total",
    "Batches retried after a backoff (a transient error, or an unknown one on a single event).",
    ["service", "group"],
)
KAFKA_HANDLER_FAILURES = Counter(
    "kafka_handler_failures_total",
    "Handler calls that raised, by kind: transient, deterministic, unknown, poison.",
    ["service", "group", "kind"],
)
KAFKA_CONSUMER_HALTED = Gauge(
    "kafka_consumer_halted", "1 when the consumer stopped itself (DLQ limit).", ["service", "group"]
)
KAFKA_CONSUMER_STALLED = Gauge(
    "kafka_consumer_stalled",
    "1 while a partition has had records to process for longer than KAFKA_STALL_AFTER_S without progress.",
    ["service", "group", "topic", "partition"],
)
