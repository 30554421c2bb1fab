"""Alerting's own metrics."""

from prometheus_client import Counter, Gauge, Histogram

ALERTS_FIRED = Counter(
    "alerting_alerts_fired_total", "Alerts fired, by rule and starting level.", ["rule", "level"]
)
CALLBACKS = Counter(
    "alerting_callbacks_total",
    "Callbacks (回访): scheduled on resolve, overdue, done, and review cases their answers opened.",
    ["event"],
)
OPEN_ALERTS = Gauge("alerting_open_alerts", "Open (unresolved) alerts, by level.", ["level"])
ESCALATIONS = Counter(
    "alerting_escalations_total", "Escalations, by from and to level.", ["from_level", "to_level"]
)
NOTIFICATIONS = Counter(
    "alerting_notifications_total", "Notification attempts, by channel and outcome.", ["channel", "outcome"]
)
TIME_TO_ACK = Histogram(
    "alerting_time_to_ack_seconds",
    "From firing to acknowledgement.",
    buckets=(60, 300, 900, 1800, 3600, 7200, 14400, 43200, 86400, 259200),
)
EVALUATION_SECONDS = Histogram(
    "alerting_rule_evaluation_duration_seconds",
    "Time to evaluate every rule over one consumed batch.",
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1),
)
LATE_EVENTS = Counter(
    "alerting_late_events_total",
    "Feedback, purchases and refunds too late for their windows (beyond allowed lateness).",
)
PRUNED_CELLS = Counter(
    "alerting_window_cells_pruned_total",
    "Stored window cells deleted because every window that could read them has moved past.",
)
UNATTRIBUTED_REFUNDS = Counter(
    "alerting_unattributed_refunds_total",
    "Refunds a refund-rate rule could not count: no business line (or channel, store) of their own, "
    "and their order's purchase was not seen.",
)
LOOP_LAST_TICK = Gauge(
    "alerting_loop_last_tick_timestamp_seconds",
    "When the loop (timers, notifier) last completed a pass, as a Unix time.",
    ["loop"],
)
OVERDUE_TRANSITIONS = Gauge(
    "alerting_overdue_transitions",
    "Open alerts whose next transition (escalation, reminder, ack timeout) is over 2 minutes past.",
)
OVERDUE_DELIVERIES = Gauge(
    "alerting_overdue_deliveries", "Notifications due over 2 minutes ago and still not sent (nor failed)."
)
