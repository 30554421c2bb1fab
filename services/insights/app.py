"""The insights service.

It consumes feedback.scored.v1, alerts.v1 and loyalty.changes.v1 into facts and daily rollups, and
answers customer-experience KPIs (NPS, CSAT, CES, negative share, SLAs) by business line, channel,
region, store, member tier and aspect, with the records behind every number.
"""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import FastAPI

from services.insights.api import router
from services.insights.config import InsightsSettings
from services.insights.consumer import insights_handler
from shared.contracts.registry import ALERTS, FEEDBACK_SCORED, LOYALTY_CHANGES
from shared.ops import operator_router
from shared.service import ConsumerSpec, build_app
from shared.settings import load_settings


def create_app(settings: InsightsSettings | None = None) -> FastAPI:
    settings = settings or load_settings(InsightsSettings)
    zone = settings.zone()
    app = build_app(
        service="insights",
        settings=settings,
        title="Insights service",
        description=(
            "Customer-experience KPIs (NPS, CSAT, CES, negative share, volume, recurrence, response and "
            "resolution times against their targets, closure rate) per day or week in the business's time "
            f"zone ({settings.time_zone}), by business line, channel, region, store, member tier and aspect, "
            "with the records behind each cell. Every /v1 route needs `X-API-Key`: the operator key or a "
            "read-only client's (INSIGHTS_API_KEYS)."
        ),
        consumers=[
            ConsumerSpec(
                settings.consumer_group,
                [FEEDBACK_SCORED, ALERTS, LOYALTY_CHANGES],
                insights_handler(settings),
            )
        ],
        routers=[router, operator_router(settings)],
    )
    app.state.key_hashes = settings.key_hashes()
    app.state.today = lambda: datetime.now(UTC).astimezone(zone).date()
    app.state.alert_url = settings.alert_url
    return app
