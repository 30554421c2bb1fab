"""Steady seeded load through ingest during faults, and the checks that follow them: every request
was answered 2xx in the end (503s retried), everything accepted was scored under its id, no effect
(points, open alert, page) was applied twice, lag drained."""

from __future__ import annotations

import asyncio
import time
from collections import Counter, defaultdict
from typing import Any

import httpx
from sqlalchemy import text

from scripts.harness import INGEST_KEY, LagProbe, Platform
from scripts.loadgen import LoadGen
from shared.contracts.registry import FEEDBACK_SCORED
from shared.db.engine import Database
from tests.e2e.flow import envelopes, until
from tests.integration.alerting_helpers import Receiver

RATE = 100  # feedback/s offered; 2 shared cores carry the four services, broker, database and this client
RECOVERY_S = 30.0
RETRYABLE = {429, 503}


class Load:
    """Seeded feedback (and a purchase every tenth request) at RATE/s; remembers what each request got.

    A 503 or 429 is not a refusal: it says "not acknowledged, retry" (a publish that timed out may
    still land), so such a request is retried later, as a client honouring Retry-After would, and
    must then get the id the pipeline scored. Only other answers (4xx) are refusals."""

    def __init__(self, platform: Platform) -> None:
        self.gen = LoadGen(seed=42, customers=300, run=f"F{platform.suffix[2:]}")
        self.platform = platform
        self.accepted: dict[str, str] = {}  # external_id → feedback_id
        self.refused: dict[str, str] = {}  # external_id → the answer (status and body), not 2xx
        self.unanswered: list[tuple[str, dict[str, Any]]] = []
        self.orders: set[str] = set()
        self.stop = asyncio.Event()
        self.unavailable: Counter[int] = Counter()  # 503/429 answers by status, each retried
        self.last_unavailable = ""

    async def one(self, http: httpx.AsyncClient, path: str, body: dict[str, Any]) -> None:
        try:
            response = await http.post(path, json=body, headers=INGEST_KEY)
        except httpx.TransportError:
            self.unanswered.append((path, body))
            return
        if response.status_code in RETRYABLE:
            self.unanswered.append((path, body))
            self.unavailable[response.status_code] += 1
            self.last_unavailable = f"{response.status_code} {response.text[:300]}"
        elif response.status_code not in (200, 202):
            self.refused[body["external_id"]] = f"{response.status_code} {response.text[:300]}"
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

    async def retry_unanswered(self, rounds: int = 30) -> None:
        """What got no answer is retried, as a client would; ingest's idempotency makes that safe."""
        async with httpx.AsyncClient(base_url=self.platform.url("ingest"), timeout=15) as http:
            for _ in range(rounds):
                pending, self.unanswered = self.unanswered, []
                for path, body in pending:
                    await self.one(http, path, body)
                if not self.unanswered:
                    break
                await asyncio.sleep(2)
        print(f"answered 503/429 and retried: {dict(self.unavailable)}; last: {self.last_unavailable}")
        assert not self.unanswered, f"{len(self.unanswered)} still unanswered; last: {self.last_unavailable}"


async def check_effects_once(load: Load, platform: Platform, sink: Receiver, database: Database) -> None:
    """After the faults: lag drained; nothing refused; accepted feedback scored; effects applied once."""
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
    # The load is valid: a refusal (a 409 on a retry, say) is a defect whether or not it was scored.
    assert not load.refused, f"valid requests refused: {dict(list(load.refused.items())[:5])}"

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
    # A page whose outcome a killed notifier never stored is sent again after its lease, under the same
    # delivery id (receivers drop repeats by it); two deliveries for one step would be a real double page.
    # Only this run's alerts: the timer loop also carries on open alerts that other tests left in the
    # shared database (their targets resolve through this run's contacts, so they page this sink too).
    deliveries: dict[tuple[str, str, str], set[str]] = defaultdict(set)
    for p in sink.payloads():
        if not p["alert"]["rule_id"].endswith(platform.rule_suffix):
            continue
        deliveries[(p["alert"]["alert_id"], p["transition"], p["alert"]["level"])].add(p["delivery_id"])
    doubled = {key: sorted(ids) for key, ids in deliveries.items() if len(ids) > 1}
    assert doubled == {}, f"two pages for one escalation step (alert, transition, level): {doubled}"


async def _none_lagging(probe: LagProbe) -> bool:
    return not any((await probe.lag()).values())
