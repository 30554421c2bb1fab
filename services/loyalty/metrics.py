"""Loyalty's own metrics."""

from prometheus_client import Counter, Gauge, Histogram

EVENTS_APPLIED = Counter("loyalty_events_applied_total", "Events applied, by type.", ["type"])
APPLY_LATENCY = Histogram(
    "loyalty_apply_batch_duration_seconds",
    "Time to apply one consumed batch (one transaction).",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
POINTS = Counter(
    "loyalty_points_total",
    "Points moved, by kind (issued, redeemed, expired, clawed_back), counted as their changes are published.",
    ["kind"],
)
MEMBERS_BY_TIER = Gauge("loyalty_members", "Members by current tier.", ["tier"])
