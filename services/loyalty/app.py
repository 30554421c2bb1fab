"""The loyalty service.

It consumes commerce.events.v1, feedback.received.v1 and alerts.v1 into a points ledger and member tiers.
"""

from fastapi import FastAPI

from services.loyalty.config import LoyaltySettings
from services.loyalty.models import processed_events
from shared.contracts.registry import ALERTS, COMMERCE_EVENTS, FEEDBACK_RECEIVED
from shared.ops import operator_router
from shared.service import ConsumerSpec, build_app, recording_handler
from shared.settings import load_settings


def create_app(settings: LoyaltySettings | None = None) -> FastAPI:
    settings = settings or load_settings(LoyaltySettings)
    group = settings.consumer_group
    return build_app(
        service="loyalty",
        settings=settings,
        title="Loyalty service",
        description=(
            "Consumes commerce.events.v1, feedback.received.v1 and alerts.v1 "
            "into a points ledger and member tiers."
        ),
        consumers=[
            ConsumerSpec(
                group,
                [COMMERCE_EVENTS, FEEDBACK_RECEIVED, ALERTS],
                recording_handler(processed_events, group),
            )
        ],
        routers=[operator_router(settings)],
    )
