"""The loyalty service.

It consumes commerce.events.v1, feedback.received.v1 and alerts.v1 into a points ledger and member tiers,
and publishes loyalty.changes.v1 through a transactional outbox.
"""

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import FastAPI

from services.loyalty.api import LoyaltyState, router
from services.loyalty.config import LoyaltySettings
from services.loyalty.consumer import loyalty_handler
from services.loyalty.outbox import run_relay
from services.loyalty.rules import LoyaltyRules
from services.loyalty.schedule import run_periodically
from shared.contracts.registry import ALERTS, COMMERCE_EVENTS, FEEDBACK_RECEIVED, LOYALTY_CHANGES
from shared.ops import operator_router
from shared.service import ConsumerSpec, Runtime, build_app
from shared.settings import load_settings
from shared.yamlconfig import HotReload


def create_app(settings: LoyaltySettings | None = None) -> FastAPI:
    settings = settings or load_settings(LoyaltySettings)
    rules = HotReload(settings.rules_path, LoyaltyRules)
    group = settings.consumer_group
    topic = LOYALTY_CHANGES.name + settings.kafka.topic_suffix
    background: list[Callable[[Runtime], Coroutine[Any, Any, None]]] = []
    if settings.relay_outbox:
        background.append(run_relay)
    if settings.schedule_interval_s > 0:
        interval = settings.schedule_interval_s
        background.append(lambda rt: run_periodically(rt.database, rules, topic, interval))
    app = build_app(
        service="loyalty",
        settings=settings,
        title="Loyalty service",
        description=(
            "Points ledger and member tiers from purchase, refund, referral, survey and feedback events; "
            "changes published on loyalty.changes.v1 through a transactional outbox. Every /v1 route needs "
            "`X-API-Key`: a read-only client's key (LOYALTY_API_KEYS; local development: `dev-loyalty-key`) "
            "or the operator key, which alone may write."
        ),
        consumers=[ConsumerSpec(group, [COMMERCE_EVENTS, FEEDBACK_RECEIVED, ALERTS], loyalty_handler(rules))],
        routers=[router, operator_router(settings)],
        background=background,
    )
    app.state.loyalty = LoyaltyState(rules, topic)
    app.state.key_hashes = settings.key_hashes()
    return app
