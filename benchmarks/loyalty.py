"""`make bench-loyalty`: purchase events applied per second, batched vs naive, and member lookup latency.

1. The service's batch handler (one transaction per consumed batch of 500) vs a naive handler (one
   transaction per event), on the same pre-decoded purchase events for fresh members, same run.
   Target: ≥ 3,000 events/s and ≥ 5× naive.
2. GET /v1/members/{id} p95 with 1,000,000 ledger rows in the table. Target: ≤ 10 ms.
"""

from __future__ import annotations

import asyncio
import json
import random
import statistics
import time
import uuid
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import httpx
from sqlalchemy import text

from benchmarks.common import Server, say, write_report
from scripts.stack import infra_env, infra_up
from services.loyalty.consumer import loyalty_handler
from services.loyalty.rules import load_rules
from shared.contracts.codec import decode
from shared.contracts.registry import COMMERCE_EVENTS
from shared.db.engine import Database
from shared.kafka.consumer import ConsumedEvent
from shared.settings import DEV_LOYALTY_KEY, DatabaseSettings, KafkaSettings

EVENTS, NAIVE_EVENTS, BATCH = 20_000, 2_000, 500
LEDGER_ROWS, MEMBERS = 1_000_000, 10_000


def purchases(prefix: str, count: int, members: int) -> list[ConsumedEvent]:
    at = datetime(2026, 11, 17, 10, tzinfo=UTC).isoformat()
    events = []
    for i in range(count):
        customer = f"{prefix}{i % members}"
        raw = json.dumps(
            {
                "event_id": str(uuid.uuid4()),
                "type": "purchase",
                "version": 1,
                "occurred_at": at,
                "source": "bench",
                "key": customer,
                "payload": {
                    "client_id": "pos",
                    "external_id": f"x{i}",
                    "order_id": f"o-{prefix}-{i}",
                    "customer_id": customer,
                    "amount": f"{10 + i % 90}.00",
                    "currency": "CNY",
                    "occurred_at": at,
                },
            }
        )
        events.append(ConsumedEvent(decode(COMMERCE_EVENTS, raw.encode()), "bench", 0, i))
    return events


async def apply_rate(database: Database, events: list[ConsumedEvent], batch: int) -> float:
    runtime: Any = SimpleNamespace(
        database=database, settings=SimpleNamespace(kafka=KafkaSettings(topic_suffix=".bench"))
    )
    rules = load_rules()
    handle = loyalty_handler(lambda: rules)(runtime)
    started = time.perf_counter()
    for start in range(0, len(events), batch):
        await handle(events[start : start + batch])
    return len(events) / (time.perf_counter() - started)


async def seed_ledger(database: Database) -> None:
    per_member = LEDGER_ROWS // MEMBERS
    async with database.connection() as conn:
        await conn.execute(
            text("""
            INSERT INTO loyalty.members (customer_id, tier, balance)
            SELECT 'seed-' || m, 'silver', 100 * :per FROM generate_series(1, :members) m ON CONFLICT DO NOTHING
        """),
            {"members": MEMBERS, "per": per_member},
        )
        await conn.execute(
            text("""
            INSERT INTO loyalty.ledger (customer_id, kind, points, balance_after, source, reason, at)
            SELECT 'seed-' || m, 'earned', 100, 100 * n, 'seed-' || m || '-' || n, 'seed', now() - n * interval '1 hour'
            FROM generate_series(1, :members) m, generate_series(1, :per) n
        """),
            {"members": MEMBERS, "per": per_member},
        )
        await conn.execute(
            text("""
            INSERT INTO loyalty.lots (customer_id, lot_id, earned_at, expires_at, points, remaining)
            SELECT 'seed-' || m, 'seed-lot-' || n, now() - n * interval '1 day', now() + (40 - n) * interval '1 day', 100, 100
            FROM generate_series(1, :members) m, generate_series(1, 20) n ON CONFLICT DO NOTHING
        """),
            {"members": MEMBERS},
        )
        await conn.execute(text("ANALYZE loyalty.ledger"))
        await conn.execute(text("ANALYZE loyalty.lots"))


async def member_latency(url: str, samples: int = 2000) -> dict[str, float]:
    timings = []
    reader = {"X-API-Key": DEV_LOYALTY_KEY}  # member reads need a key: the console's read-only one
    async with httpx.AsyncClient(base_url=url, timeout=10, headers=reader) as http:
        for _ in range(200):
            await http.get(f"/v1/members/seed-{random.randint(1, MEMBERS)}")
        for _ in range(samples):
            started = time.perf_counter()
            response = await http.get(f"/v1/members/seed-{random.randint(1, MEMBERS)}")
            timings.append((time.perf_counter() - started) * 1000)
            response.raise_for_status()
    timings.sort()
    return {
        "p50_ms": round(statistics.median(timings), 2),
        "p95_ms": round(timings[int(len(timings) * 0.95)], 2),
        "p99_ms": round(timings[int(len(timings) * 0.99)], 2),
        "samples": samples,
    }


async def cleanup(database: Database) -> None:
    async with database.connection() as conn:
        for table in ("ledger", "lots", "orders", "rewards", "members"):
            await conn.execute(
                text(
                    f"DELETE FROM loyalty.{table} WHERE customer_id LIKE 'bench-%' OR customer_id LIKE 'seed-%'"
                )
            )
        await conn.execute(text("DELETE FROM loyalty.outbox WHERE topic LIKE '%.bench'"))


async def measure(env: dict[str, str]) -> dict[str, Any]:
    database = Database(DatabaseSettings(), "bench")
    results: dict[str, Any] = {}
    try:
        await cleanup(database)
        run = uuid.uuid4().hex[:6]
        say(f"1/4 batched handler: {EVENTS} purchase events for 2,000 new members, batches of {BATCH}")
        results["batched_events_per_s"] = round(
            await apply_rate(database, purchases(f"bench-{run}-b-", EVENTS, 2000), BATCH), 1
        )
        say(f"   {results['batched_events_per_s']:.0f} events/s")
        say(f"2/4 naive handler (one transaction per event): {NAIVE_EVENTS} events")
        results["naive_events_per_s"] = round(
            await apply_rate(database, purchases(f"bench-{run}-n-", NAIVE_EVENTS, 2000), 1), 1
        )
        say(f"   {results['naive_events_per_s']:.0f} events/s")
        say(f"3/4 seeding {LEDGER_ROWS:,} ledger rows for {MEMBERS:,} members")
        await seed_ledger(database)
        say("4/4 GET /v1/members/{id}: 2,000 sequential requests")
        with Server("services.loyalty.app:create_app", env=env, ready_path="/healthz") as server:
            results["member_get"] = await member_latency(server.url)
        say(f"   p95 {results['member_get']['p95_ms']} ms")
    finally:
        await cleanup(database)
        await database.dispose()
    return results


def main() -> None:
    say("starting Kafka and PostgreSQL (if not running)")
    infra_up()
    env = {
        **infra_env(),
        "LOG_LEVEL": "WARNING",
        "KAFKA_TOPIC_SUFFIX": ".bench",
        "LOYALTY_SCHEDULE_INTERVAL_S": "0",
        "LOYALTY_RELAY_OUTBOX": "false",
    }
    from shared.contracts.registry import TOPICS
    from shared.kafka.admin import ensure_topics

    asyncio.run(
        ensure_topics(
            KafkaSettings(bootstrap_servers=env["KAFKA_BOOTSTRAP_SERVERS"], topic_suffix=".bench"),
            list(TOPICS.values()),
        )
    )
    results = asyncio.run(measure(env))
    ratio = results["batched_events_per_s"] / results["naive_events_per_s"]
    results["ratio_batched_vs_naive"] = round(ratio, 2)
    checks = {
        "≥ 3,000 events/s": results["batched_events_per_s"] >= 3000,
        "≥ 5× naive": ratio >= 5,
        "member GET p95 ≤ 10 ms": results["member_get"]["p95_ms"] <= 10,
    }
    results["checks"] = checks
    table = "\n".join(
        [
            "| measure | value |",
            "| --- | --- |",
            f"| batched handler (idempotency on) | **{results['batched_events_per_s']:.0f} events/s** (target ≥ 3,000) |",
            f"| naive handler (one transaction per event) | {results['naive_events_per_s']:.0f} events/s |",
            f"| **ratio batched / naive** | **{ratio:.1f}×** (target ≥ 5×) |",
            f"| GET /v1/members/{{id}}, {LEDGER_ROWS:,} ledger rows | p50 {results['member_get']['p50_ms']} ms, "
            f"p95 **{results['member_get']['p95_ms']} ms** (target ≤ 10 ms), p99 {results['member_get']['p99_ms']} ms |",
        ]
        + [f"| check: {name} | {'PASS' if ok else 'FAIL'} |" for name, ok in checks.items()]
    )
    path = write_report("bench-loyalty", results, table)
    print(table)
    say(f"report: {path} (+ .json)")


if __name__ == "__main__":
    main()
