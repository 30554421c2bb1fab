"""Faults under steady load: each service is SIGKILLed in turn and restarted while seeded feedback and
purchases keep arriving. Afterwards, by id: everything answered 202 was scored and nothing refused was;
no points, alert or page was applied twice; each service was ready again within 30 s and lag drained."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from benchmarks.loadgen import LoadGen
from benchmarks.platform import INGEST_KEY, SERVICES, LagProbe, Platform
from shared.contracts.registry import FEEDBACK_SCORED
from tests.e2e.flow import envelopes, until
from tests.integration.alerting_helpers import Receiver

pytestmark = pytest.mark.integration
RATE = 100  # feedback/s offered; 2 shared cores carry the four services, broker, database and this client
RECOVERY_S = 30.0


class Load:
    """Seeded feedback (and a purchase every tenth request) at RATE/s; remembers what each request got."""

    def __init__(self, platform: Platform) -> None:
        self.gen = LoadGen(seed=42, customers=300, run=f"F{platform.suffix[2:]}")
        self.platform = platform
        self.accepted: dict[str, str] = {}  # external_id → feedback_id
        self.refused: set[str] = set()  # answered, but not 2xx
        self.unanswered: list[tuple[str, dict[str, Any]]] = []
        self.orders: set[str] = set()
        self.stop = asyncio.Event()

    async def one(self, http: httpx.AsyncClient, path: str, body: dict[str, Any]) -> None:
        try:
            response = await http.post(path, json=body, headers=INGEST_KEY)
        except httpx.TransportError:
            self.unanswered.append((path, body))
            return
        if response.status_code not in (200, 202):
            self.refused.add(body["external_id"])
        elif path == "/v1/feedback":
            self.accepted[body["external_id"]] = response.json()["feedback_id"]
        else:
            self.orders.add(body["order_id"])

    async def run(self) -> None:
        async with httpx.AsyncClient(base_url=self.platform.url("ingest"), timeout=15) as http:
            tasks: set[asyncio.Task[None]] = set()
            began, i = time.perf_counter(), 0
            while not self.stop.is_set():
                await asyncio.sleep(max(0.0, began + i / RATE - time.perf_counter()))
                path, body = (
                    ("/v1/events", self.gen.purchase())
                    if i % 10 == 9
                    else ("/v1/feedback", self.gen.feedback())
                )
                task = asyncio.create_task(self.one(http, path, body))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
                i += 1
            await asyncio.gather(*tasks)

    async def retry_unanswered(self) -> None:
        """What got no answer is retried, as a client would; ingest's idempotency makes that safe."""
        async with httpx.AsyncClient(base_url=self.platform.url("ingest"), timeout=15) as http:
            pending, self.unanswered = self.unanswered, []
            for path, body in pending:
                self.refused.discard(body.get("external_id", ""))
                await self.one(http, path, body)
        assert not self.unanswered


async def test_sigkill_of_each_service_in_turn_loses_nothing_and_applies_nothing_twice(
    platform: Platform, sink: Receiver, database
):
    load = Load(platform)
    sending = asyncio.create_task(load.run())
    recovery: dict[str, float] = {}
    try:
        await asyncio.sleep(3)
        for name in SERVICES:
            server = platform.servers[name]
            await asyncio.to_thread(server.kill)
            await asyncio.sleep(1)
            server.spawn()
            recovery[name] = await asyncio.to_thread(server.wait_ready, RECOVERY_S)
            await asyncio.sleep(3)
    finally:
        load.stop.set()
        await sending
    await load.retry_unanswered()
    assert all(seconds < RECOVERY_S for seconds in recovery.values()), recovery
    assert len(load.accepted) > RATE * 10

    async with LagProbe(platform) as probe:
        await until(
            lambda: _none_lagging(probe), timeout_s=90, what="consumer lag back to zero after the kills"
        )

    scored = await envelopes(
        platform.kafka.bootstrap_servers,
        platform.topic(FEEDBACK_SCORED.name),
        lambda found: set(load.accepted.values()) <= {e["payload"]["feedback_id"] for e in found},
        timeout_s=60,
    )
    by_external = {e["payload"]["external_id"]: e["payload"]["feedback_id"] for e in scored}
    missing = {x for x, f in load.accepted.items() if by_external.get(x) != f}
    assert not missing, f"{len(missing)} accepted feedback never scored"
    assert not load.refused & set(by_external), "a refused feedback was scored"

    prefix = load.gen.run + "-%"
    async with database.connection() as conn:
        twice_earned = (
            await conn.execute(
                text(
                    "SELECT source, count(*) FROM loyalty.ledger WHERE customer_id LIKE :p "
                    "GROUP BY customer_id, kind, source HAVING count(*) > 1"
                ),
                {"p": prefix},
            )
        ).all()
        orders = (
            await conn.execute(
                text("SELECT count(*) FROM loyalty.orders WHERE customer_id LIKE :p"), {"p": prefix}
            )
        ).scalar_one()
        alerts_per_group = (
            await conn.execute(
                text(
                    "SELECT rule_id, group_text, count(*) FROM alerting.alerts WHERE rule_id LIKE :r "
                    "AND status <> 'resolved' GROUP BY rule_id, group_text HAVING count(*) > 1"
                ),
                {"r": "%" + platform.rule_suffix},
            )
        ).all()
    assert twice_earned == [], "points applied twice"
    assert orders == len(load.orders)
    assert alerts_per_group == [], "two open alerts for one rule and group"
    one_star = {
        e["payload"]["feedback_id"]
        for e in scored
        if e["payload"]["external_id"] in load.accepted and e["payload"]["stars"] <= 1
    }
    assert one_star, "the load contains complaints the model scores 1 star"
    pages = Counter((p["alert"]["alert_id"], p["transition"], p["alert"]["level"]) for p in sink.payloads())
    assert [key for key, n in pages.items() if n > 1] == [], "a page sent twice for one escalation step"


async def _none_lagging(probe: LagProbe) -> bool:
    return not any((await probe.lag()).values())
