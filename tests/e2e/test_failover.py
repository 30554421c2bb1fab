"""Alerting without a single point of failure: a second alerting replica stands by while the platform's
leads; under steady load the leader is SIGKILLed. The standby takes over within 30 s (its
`service_leader` gauge), and afterwards every complaint the model scored 1 star has its alert paged,
none twice, and no effect was applied twice."""

from __future__ import annotations

import asyncio
import time
import urllib.request

import pytest
from sqlalchemy import text

from scripts.harness import Platform
from scripts.infra import free_port
from scripts.servers import Server
from shared.contracts.registry import FEEDBACK_SCORED
from shared.db.engine import Database
from tests.e2e.flow import envelopes
from tests.e2e.load import RECOVERY_S, Load, check_effects_once
from tests.integration.alerting_helpers import Receiver
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration
TAKEOVER_S = 30.0


def leads(server: Server) -> bool:
    try:
        with urllib.request.urlopen(f"{server.url}/metrics", timeout=5) as response:
            metrics = response.read().decode()
    except OSError:
        return False
    return 'service_leader{service="alerting"} 1.0' in metrics


async def test_a_standby_takes_over_within_30_s_of_a_sigkill_of_the_leader_losing_and_doubling_nothing(
    platform: Platform, sink: Receiver, database: Database, tmp_path
):
    leader = platform.servers["alerting"]
    standby = Server(
        "services.alerting.app:create_app",
        free_port(),
        platform.env,
        ready_path="/readyz",
        log=tmp_path / "alerting-standby.log",
        ready_timeout_s=120,
    )
    standby.spawn()
    try:
        await asyncio.to_thread(standby.wait_ready)
        await eventually(lambda: leads(leader), what="the platform's alerting leading")
        assert not leads(standby)
        load = Load(platform)
        sending = asyncio.create_task(load.run())
        try:
            await asyncio.sleep(3)
            killed = time.monotonic()
            await asyncio.to_thread(leader.kill)
            await eventually(lambda: leads(standby), timeout_s=TAKEOVER_S + 5, what="the standby taking over")
            takeover = time.monotonic() - killed
            await asyncio.sleep(5)
        finally:
            load.stop.set()
            await sending
        await load.retry_unanswered()
        leader.spawn()  # back as the standby, so the platform keeps two replicas until this test ends
        await asyncio.to_thread(leader.wait_ready, RECOVERY_S)
        await check_effects_once(load, platform, sink, database)
        await every_complaint_paged(load, platform, sink, database)
    finally:
        standby.stop()
    await eventually(lambda: leads(leader), timeout_s=TAKEOVER_S, what="the platform alerting leading again")
    print(f"standby took over {takeover:.1f} s after the SIGKILL")
    assert takeover < TAKEOVER_S, f"took over after {takeover:.1f} s"


async def every_complaint_paged(load: Load, platform: Platform, sink: Receiver, database: Database) -> None:
    """Each 1-star feedback of the load opened its per-feedback alert, and each of those was paged (a
    page the killed leader had leased goes out under the same delivery id after the lease)."""
    scored = await envelopes(
        platform.kafka.bootstrap_servers,
        platform.topic(FEEDBACK_SCORED.name),
        lambda found: set(load.accepted.values()) <= {e["payload"]["feedback_id"] for e in found},
        timeout_s=60,
    )
    one_star = {
        e["payload"]["feedback_id"]
        for e in scored
        if e["payload"]["external_id"] in load.accepted and e["payload"]["stars"] <= 1
    }
    async with database.connection() as conn:
        rows = await conn.execute(
            text(
                "SELECT id::text, group_key->>'feedback_id' AS feedback_id FROM alerting.alerts "
                "WHERE rule_id = :rule"
            ),
            {"rule": "one-star-feedback" + platform.rule_suffix},
        )
        alerts = {row.feedback_id: row.id for row in rows if row.feedback_id in one_star}
    assert set(alerts) == one_star, f"{len(one_star - set(alerts))} 1-star complaints without an alert"

    def unpaged() -> set[str]:
        return set(alerts.values()) - {p["alert"]["alert_id"] for p in sink.payloads()}

    await eventually(lambda: not unpaged(), timeout_s=90, what="a page for every complaint's alert")
