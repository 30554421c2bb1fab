"""Customer-experience counters for Prometheus, with bounded label sets.

Business lines and regions named in the settings keep their names (Chinese ones included); any other is
`other`, and none is `none`, so a free-text value can never grow the series without bound. The exact,
any-dimension numbers are the API's (GET /v1/kpis); these feed dashboards and the cx:* recording rules.
"""

from __future__ import annotations

from collections.abc import Collection

from prometheus_client import Counter, Histogram

PLACE = ["business_line", "region"]
FEEDBACK = Counter(
    "insights_feedback_total", "Feedback counted, by sentiment label.", [*PLACE, "channel", "label"]
)
NPS = Counter(
    "insights_nps_responses_total",
    "NPS answers by category (promoter 9–10, passive 7–8, detractor 0–6).",
    [*PLACE, "category"],
)
CSAT = Counter("insights_csat_responses_total", "CSAT answers (1–5).", PLACE)
CSAT_POINTS = Counter(
    "insights_csat_points_total", "Sum of CSAT answers: divided by the responses, the mean.", PLACE
)
CSAT_SATISFIED = Counter("insights_csat_satisfied_total", "CSAT answers of 4 or 5.", PLACE)
CES = Counter("insights_ces_responses_total", "CES answers (1–7).", PLACE)
CES_POINTS = Counter(
    "insights_ces_points_total", "Sum of CES answers: divided by the responses, the mean.", PLACE
)
SLA_BUCKETS = (300, 900, 1800, 3600, 7200, 4 * 3600, 8 * 3600, 24 * 3600, 48 * 3600, 72 * 3600, 7 * 24 * 3600)
RESPONSE = Histogram(
    "insights_alert_response_seconds",
    "Alert fired → first answer, by the level it fired at.",
    ["level"],
    buckets=SLA_BUCKETS,
)
RESOLUTION = Histogram(
    "insights_alert_resolution_seconds",
    "Alert fired → resolved, by the level it fired at.",
    ["level"],
    buckets=SLA_BUCKETS,
)
SLA = Counter(
    "insights_alert_sla_total",
    "Alerts answered or resolved, within their target or not.",
    ["level", "sla", "outcome"],
)


def bounded(value: str | None, known: Collection[str]) -> str:
    if not value:
        return "none"
    return value if value in known else "other"


def nps_category(score: int) -> str:
    return "promoter" if score >= 9 else "passive" if score >= 7 else "detractor"
