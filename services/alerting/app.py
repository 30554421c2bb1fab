"""The alerting service: scored feedback, purchases and refunds (and member tiers) → rules → alerts,
escalation, notifications."""

from collections.abc import Callable
from datetime import UTC, datetime

from fastapi import FastAPI

from services.alerting.config import AlertingSettings
from services.alerting.delivery.channels import pages_of
from services.alerting.delivery.formats import ROBOT_PARTS
from services.alerting.delivery.notify import run_notifier
from services.alerting.evaluation.consumer import alerting_handler
from services.alerting.evaluation.state import AlertingState
from services.alerting.http.acklinks import router as ack_router
from services.alerting.http.api import router as alerting_router
from services.alerting.http.console import router as console_router
from services.alerting.http.kpiproxy import router as kpi_router
from services.alerting.http.session import ConsoleSessions, session_secret
from services.alerting.lifecycle.timers import run_timers
from services.alerting.lifecycle.watchdog import Heartbeats, run_watchdog
from services.alerting.models import outbox
from services.alerting.rules import AlertingConfig
from shared.contracts.registry import ALERTS, COMMERCE_EVENTS, FEEDBACK_SCORED, LOYALTY_CHANGES
from shared.db.outbox import OutboxRelay
from shared.leader import Leadership
from shared.ops import operator_router
from shared.security import hash_key
from shared.service import ConsumerSpec, Runtime, build_app
from shared.settings import load_settings
from shared.yamlconfig import HotReload

RELAY = OutboxRelay("alerting", outbox.schema or "alerting")


def create_app(
    settings: AlertingSettings | None = None, clock: Callable[[], datetime] | None = None
) -> FastAPI:
    settings = settings or load_settings(AlertingSettings)
    now = clock or (lambda: datetime.now(UTC))
    config = HotReload(settings.rules_path, AlertingConfig)
    config()  # refuse to start on a bad file
    # Every template of every channel renders a sample page, or the service does not start.
    pages_of(settings).check(ROBOT_PARTS)
    state = AlertingState(config, now, settings.consumer_group)

    async def relay(runtime: Runtime) -> None:
        await RELAY.run(
            runtime.database.connection, runtime.producer, ALERTS.name + settings.kafka.topic_suffix
        )

    loops = tuple(
        name for name, on in (("timers", settings.run_timers), ("notifier", settings.run_notifier)) if on
    )
    leadership = (
        Leadership(
            settings.database.database_url,
            f"alerting:{settings.consumer_group}",
            "alerting",
            poll_s=settings.leader_poll_s,
        )
        if settings.leader_election
        else None
    )
    heartbeats = Heartbeats(
        loops,
        leading_since=(lambda: leadership.since if leadership.leader else None)
        if leadership
        else lambda: 0.0,
    )

    async def timers(runtime: Runtime) -> None:
        await run_timers(runtime, state, settings.timer_interval_s, now, lambda: heartbeats.beat("timers"))

    async def notifier(runtime: Runtime) -> None:
        await run_notifier(runtime, config, settings, now, state.notify, lambda: heartbeats.beat("notifier"))

    async def watchdog(runtime: Runtime) -> None:
        await run_watchdog(runtime, now, settings.watchdog_interval_s)

    secret = settings.console_secret.get_secret_value() if settings.console_secret else None
    sessions = ConsoleSessions(session_secret(settings, secret), settings.console_session_ttl_s)
    background = (
        [relay, watchdog]
        + ([timers] if settings.run_timers else [])
        + ([notifier] if settings.run_notifier else [])
    )
    app = build_app(
        service="alerting",
        settings=settings,
        title="Alerting service",
        description="rules over scored feedback → alerts with L1–L4 escalation, silences and notifications.",
        consumers=[
            ConsumerSpec(
                settings.consumer_group,
                [FEEDBACK_SCORED, LOYALTY_CHANGES, COMMERCE_EVENTS],
                alerting_handler(state),
            )
        ],
        routers=[
            alerting_router,
            console_router,
            kpi_router,
            ack_router,
            operator_router(settings),
        ],
        background=background,
        readiness={"loops": heartbeats.readiness(settings.loop_stall_s)},
        leadership=leadership,
    )
    app.state.alerting_state = state
    app.state.alerting_leadership = leadership
    app.state.console_sessions = sessions
    app.state.alerting_settings = settings
    app.state.key_hashes = {"operator": hash_key(settings.operator_api_key.get_secret_value())}
    return app
