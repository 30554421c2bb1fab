# ruff: noqa: E501  (a table of PromQL queries reads best with each query on one line)
"""Grafana dashboards as data: one per area, every panel a PromQL query on a metric the services export
(tests/integration/test_stack.py checks each name against the running services' /metrics)."""

from __future__ import annotations

from typing import Any

Panel = tuple[str, str, list[tuple[str, str]], str]
"""(title, panel type, [(PromQL, legend)], unit)."""
RATE = "$__rate_interval"
DATASOURCE = {"type": "prometheus", "uid": "prometheus"}
CX = 'business_line=~"$business_line",region=~"$region"'
CX_CHANNEL = f'{CX},channel=~"$channel"'
CONSOLE_INSIGHTS = "http://127.0.0.1:8003/console#/insights"
VARIABLES: dict[str, list[tuple[str, str]]] = {
    "feedback-cx": [
        ("business_line", "insights_feedback_total"),
        ("channel", "insights_feedback_total"),
        ("region", "insights_feedback_total"),
    ]
}
"""Template variables per dashboard: (label, the metric whose values of it are offered)."""
LINKS: dict[str, list[dict[str, Any]]] = {
    "feedback-cx": [
        {
            "title": "Insights and the records behind each number (console)",
            "type": "link",
            "url": CONSOLE_INSIGHTS,
            "targetBlank": True,
        }
    ]
}

DASHBOARDS: dict[str, tuple[str, list[Panel]]] = {
    "feedback-ingest": (
        "Feedback · Ingest",
        [
            ("Accepted records by channel", "timeseries",
             [(f'sum by (channel) (rate(ingest_records_total{{outcome="accepted"}}[{RATE}]))', "{{channel}}")],
             "reqps"),
            ("Records by outcome", "timeseries",
             [(f"sum by (outcome) (rate(ingest_records_total[{RATE}]))", "{{outcome}}")], "reqps"),
            ("HTTP 5xx share (/v1)", "timeseries",
             [(f'sum(rate(http_requests_total{{service="ingest",route=~"/v1/.*",status=~"5.."}}[{RATE}]))'
               f' / sum(rate(http_requests_total{{service="ingest",route=~"/v1/.*"}}[{RATE}]))', "5xx share")],
             "percentunit"),
            ("Rejections by reason", "timeseries",
             [(f"sum by (reason) (rate(ingest_rejections_total[{RATE}]))", "{{reason}}")], "reqps"),
            ("Availability, 1h (SLO 99.9 %)", "stat",
             [("slo:ingest_availability:ratio_rate1h", "availability")], "percentunit"),
            ("Latency p99 (SLO 250 ms)", "timeseries",
             [("slo:ingest_latency_seconds:p99_rate5m", "request p99"),
              (f"histogram_quantile(0.99, sum by (le) (rate(ingest_produce_latency_seconds_bucket[{RATE}])))",
               "broker ack p99")], "s"),
        ],
    ),
    "feedback-kafka": (
        "Feedback · Kafka pipeline",
        [
            ("Consumer lag by group", "timeseries",
             [("sum by (group) (kafka_consumer_lag_messages)", "{{group}}")], "short"),
            ("Consumer lag by topic and partition", "timeseries",
             [("sum by (topic, partition) (kafka_consumer_lag_messages)", "{{topic}}/{{partition}}")], "short"),
            ("Dead-lettered records (growth per hour)", "timeseries",
             [("sum by (topic) (increase(kafka_dlq_messages_total[1h]))", "{{topic}}")], "short"),
            ("Consumed by service and topic", "timeseries",
             [(f"sum by (service, topic) (rate(kafka_consumed_messages_total[{RATE}]))", "{{service}} ← {{topic}}")],
             "ops"),
            ("Produce failures", "timeseries",
             [(f"sum by (service, topic) (rate(kafka_produce_failures_total[{RATE}]))", "{{service}} → {{topic}}")],
             "ops"),
            ("Halted consumers", "stat", [("sum(kafka_consumer_halted)", "halted")], "short"),
            ("Stalled partitions", "stat", [("sum(kafka_consumer_stalled)", "stalled")], "short"),
            ("Handler failures by kind", "timeseries",
             [(f"sum by (service, kind) (rate(kafka_handler_failures_total[{RATE}]))", "{{service}} {{kind}}")],
             "ops"),
            ("Outbox lag", "timeseries", [("max by (service) (outbox_lag_seconds)", "{{service}}")], "s"),
        ],
    ),
    "feedback-sentiment": (
        "Feedback · Sentiment",
        [
            ("Verdicts by label", "timeseries",
             [(f"sum by (label) (rate(sentiment_labels_total[{RATE}]))", "{{label}}")], "ops"),
            ("Sentiment distribution by business line", "barchart",
             [("sum by (business_line, label) (increase(sentiment_labels_total[$__range]))",
               "{{business_line}} {{label}}")], "short"),
            ("Average stars by business line", "timeseries",
             [(f"sum by (business_line) (rate(sentiment_stars_sum[{RATE}]))"
               f" / sum by (business_line) (rate(sentiment_stars_count[{RATE}]))", "{{business_line}}")], "none"),
            ("Inference latency per micro-batch", "timeseries",
             [(f"histogram_quantile({q}, sum by (le, backend) "
               f"(rate(sentiment_inference_duration_seconds_bucket[{RATE}])))", f"p{round(q * 100)} {{{{backend}}}}")
              for q in (0.5, 0.99)], "s"),
            ("Texts scored", "timeseries", [(f"rate(sentiment_texts_scored_total[{RATE}])", "texts/s")], "ops"),
            ("Flags raised", "timeseries", [(f"sum by (flag) (rate(sentiment_flags_total[{RATE}]))", "{{flag}}")],
             "ops"),
        ],
    ),
    "feedback-alerting": (
        "Feedback · Alerting",
        [
            ("Open alerts by level", "timeseries", [("sum by (level) (alerting_open_alerts)", "{{level}}")], "short"),
            ("Time to acknowledge", "timeseries",
             [(f"histogram_quantile({q}, sum by (le) (rate(alerting_time_to_ack_seconds_bucket[1h])))",
               f"p{round(q * 100)}") for q in (0.5, 0.9)], "s"),
            ("Failed notifications by channel", "timeseries",
             [(f'sum by (channel) (increase(alerting_notifications_total{{outcome="error"}}[{RATE}]))', "{{channel}}")],
             "short"),
            ("Notification failure share", "timeseries",
             [("channel:alerting_notifications_failed:ratio_rate15m", "{{channel}}")], "percentunit"),
            ("Alerts fired by rule", "timeseries",
             [(f"sum by (rule) (increase(alerting_alerts_fired_total[{RATE}]))", "{{rule}}")], "short"),
            ("Escalations", "timeseries",
             [(f"sum by (from_level, to_level) (increase(alerting_escalations_total[{RATE}]))",
               "{{from_level}} → {{to_level}}")], "short"),
        ],
    ),
    "feedback-loyalty": (
        "Feedback · Loyalty",
        [
            ("Points issued and redeemed", "timeseries",
             [(f'sum by (kind) (increase(loyalty_points_total{{kind=~"issued|redeemed"}}[{RATE}]))', "{{kind}}")],
             "short"),
            ("Points expired and clawed back", "timeseries",
             [(f'sum by (kind) (increase(loyalty_points_total{{kind=~"expired|clawed_back"}}[{RATE}]))', "{{kind}}")],
             "short"),
            ("Members by tier", "bargauge", [("sum by (tier) (loyalty_members)", "{{tier}}")], "short"),
            ("Events applied by type", "timeseries",
             [(f"sum by (type) (rate(loyalty_events_applied_total[{RATE}]))", "{{type}}")], "ops"),
            ("Apply latency p99 per batch", "timeseries",
             [(f"histogram_quantile(0.99, sum by (le) (rate(loyalty_apply_batch_duration_seconds_bucket[{RATE}])))",
               "p99")], "s"),
        ],
    ),
    "feedback-cx": (
        "Customer experience",
        [
            ("NPS by business line (last 24 h)", "timeseries",
             [(f'100 * (sum by (business_line) (increase(insights_nps_responses_total{{{CX},category="promoter"}}[1d])) - sum by (business_line) (increase(insights_nps_responses_total{{{CX},category="detractor"}}[1d]))) / sum by (business_line) (increase(insights_nps_responses_total{{{CX}}}[1d]))', "{{business_line}}")],
             "short"),
            ("CSAT mean by business line (last 24 h; benchmark 4.2)", "timeseries",
             [(f"sum by (business_line) (increase(insights_csat_points_total{{{CX}}}[1d])) / sum by (business_line) (increase(insights_csat_responses_total{{{CX}}}[1d]))", "{{business_line}}")],
             "short"),
            ("CES mean by business line (last 24 h)", "timeseries",
             [(f"sum by (business_line) (increase(insights_ces_points_total{{{CX}}}[1d])) / sum by (business_line) (increase(insights_ces_responses_total{{{CX}}}[1d]))", "{{business_line}}")],
             "short"),
            ("Negative share by business line (last 24 h)", "timeseries",
             [(f'sum by (business_line) (increase(insights_feedback_total{{{CX_CHANNEL},label="negative"}}[1d])) / sum by (business_line) (increase(insights_feedback_total{{{CX_CHANNEL}}}[1d]))', "{{business_line}}")],
             "percentunit"),
            ("Feedback by channel", "timeseries",
             [(f"sum by (channel) (rate(insights_feedback_total{{{CX_CHANNEL}}}[{RATE}]))", "{{channel}}")], "ops"),
            ("Answered within target, by level (last 24 h; goal 90 %)", "bargauge",
             [("cx:sla_response:compliance_1d", "{{level}}")], "percentunit"),
            ("Resolved within target, by level (last 24 h)", "bargauge",
             [("cx:sla_resolution:compliance_1d", "{{level}}")], "percentunit"),
            ("Response time p90 by level", "timeseries",
             [(f"histogram_quantile(0.9, sum by (le, level) (rate(insights_alert_response_seconds_bucket[{RATE}])))", "{{level}}")],
             "s"),
            ("Callbacks (回访) in the last 24 h: scheduled, overdue, done, review cases opened", "bargauge",
             [("sum by (event) (increase(alerting_callbacks_total[1d]))", "{{event}}")], "short"),
        ],
    ),
}  # fmt: skip


def _panel(index: int, panel: Panel) -> dict[str, Any]:
    title, kind, queries, unit = panel
    return {
        "id": index + 1,
        "type": kind,
        "title": title,
        "datasource": DATASOURCE,
        "gridPos": {"h": 8, "w": 12, "x": 12 * (index % 2), "y": 8 * (index // 2)},
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "options": {},
        "targets": [
            {"refId": chr(ord("A") + i), "datasource": DATASOURCE, "expr": expr, "legendFormat": legend}
            for i, (expr, legend) in enumerate(queries)
        ],
    }


def _variable(label: str, metric: str) -> dict[str, Any]:
    query = f"label_values({metric}, {label})"
    return {
        "name": label,
        "label": label.replace("_", " "),
        "type": "query",
        "datasource": DATASOURCE,
        "query": {"query": query, "refId": label},
        "definition": query,
        "refresh": 2,
        "includeAll": True,
        "allValue": ".*",
        "multi": True,
        "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
    }


def dashboard(uid: str) -> dict[str, Any]:
    title, panels = DASHBOARDS[uid]
    return {
        "uid": uid,
        "title": title,
        "tags": ["feedback-platform"],
        "timezone": "browser",
        "schemaVersion": 39,
        "version": 1,
        "refresh": "30s",
        "time": {"from": "now-6h", "to": "now"},
        "templating": {"list": [_variable(label, metric) for label, metric in VARIABLES.get(uid, [])]},
        "links": LINKS.get(uid, []),
        "panels": [_panel(i, panel) for i, panel in enumerate(panels)],
    }
