"""The alerting service.

It consumes feedback.scored.v1 and loyalty.changes.v1, fires and escalates alerts on alerts.v1.
"""

from fastapi import FastAPI

from services.alerting.config import AlertingSettings
from services.alerting.models import processed_events
from shared.contracts.registry import FEEDBACK_SCORED, LOYALTY_CHANGES
from shared.ops import operator_router
from shared.service import ConsumerSpec, build_app, recording_handler
from shared.settings import load_settings


def create_app(settings: AlertingSettings | None = None) -> FastAPI:
    settings = settings or load_settings(AlertingSettings)
    group = settings.consumer_group
    return build_app(
        service="alerting",
        settings=settings,
        title="Alerting service",
        description=(
            "Consumes feedback.scored.v1 and loyalty.changes.v1; fires and escalates alerts on alerts.v1."
        ),
        consumers=[
            ConsumerSpec(
                group,
                [FEEDBACK_SCORED, LOYALTY_CHANGES],
                recording_handler(processed_events, group),
            )
        ],
        routers=[operator_router(settings)],
    )
