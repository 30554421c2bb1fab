"""`make bench-insight`: KPI answers from rollups at scale, against counting the raw rows, same run.

In a scratch database (created, migrated, dropped again): 5,000,000 feedback facts over 120 days, six
business lines (one named in Chinese), ten channels, eight regions, 300 stores, five tiers, 0–2 aspects.
1. Builds the rollup cells from the facts (what `python -m services.insights.rebuild` does) and times it.
2. GET /v1/kpis?metric=nps&group_by=business_line&interval=day over 90 days on the running service:
   p50/p95/p99 of sequential requests (window ends varied). Target: p95 ≤ 200 ms.
3. Baseline: the same series counted from the raw rows (one SQL query, no HTTP), and a check that both
   give the same numbers.
4. Keeping the rollup current: scored feedback applied by the service's handler in batches of 500 (facts,
   recurrence, alert links and cell deltas), against inserting the facts alone.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import create_async_engine

from benchmarks.common import Server, say, write_report
from scripts.stack import infra_env, infra_up
from services.insights.cells import FEEDBACK
from services.insights.config import InsightsSettings
from services.insights.consumer import insights_handler
from services.insights.models import feedback
from services.insights.store import _feedback_row
from shared.contracts.envelope import Envelope
from shared.contracts.feedback import Aspect, FeedbackScored, ModelRef
from shared.contracts.registry import TOPICS
from shared.db.engine import Database
from shared.db.migrate import upgrade
from shared.kafka.admin import ensure_topics
from shared.kafka.consumer import ConsumedEvent
from shared.settings import DEV_OPERATOR_KEY, DatabaseSettings, KafkaSettings

ROWS = int(os.environ.get("BENCH_INSIGHT_ROWS", "5000000"))
DAYS, LAST_DAY = 120, date(2026, 11, 30)
WINDOW_DAYS, SAMPLES, APPLIED, BATCH = 90, 300, 20_000, 500
SCRATCH = "feedback_bench_insight"
LINES = ["retail", "catering", "auto", "travel", "零售", "finance"]
SEED = f"""
    INSERT INTO insights.feedback (feedback_id, customer_id, occurred_at, day, business_line, channel, region,
        store_id, tier, aspects, aspect_labels, negative_aspects, label, stars, csat, nps, ces, text, model_version)
    SELECT md5(i::text)::uuid, 'c' || (i % 400000), at, (at AT TIME ZONE 'Asia/Shanghai')::date,
        (ARRAY{LINES})[1 + i % 6],
        (ARRAY['web','app','email','phone','chat','social','survey','store','sms','im'])[1 + (i / 7) % 10],
        (ARRAY['华东','华北','华南','西南','east','north','south','west'])[1 + (i / 3) % 8],
        's' || (i % 300), (ARRAY['','bronze','silver','gold','diamond'])[1 + (i / 11) % 5],
        asp, labels, CASE WHEN nps <= 6 THEN asp ELSE '{{}}' END,
        CASE WHEN nps <= 6 THEN 'negative' WHEN nps <= 8 THEN 'neutral' ELSE 'positive' END,
        1 + nps / 2.5, CASE WHEN i % 2 = 0 THEN 1 + nps / 2.5 END, CASE WHEN i % 5 < 3 THEN nps END,
        CASE WHEN i % 10 < 3 THEN 1 + i % 7 END, '质量不错 good', 'bench:1'
    FROM (
        SELECT i, TIMESTAMPTZ '{LAST_DAY}T16:00:00Z' - ((i % {DAYS * 1440}) * INTERVAL '1 minute') AS at,
            (i * 7919) % 11 AS nps,
            CASE i % 4 WHEN 0 THEN ARRAY[]::text[] WHEN 1 THEN ARRAY['delivery'] WHEN 2 THEN ARRAY['service']
                ELSE ARRAY['delivery', 'price'] END AS asp,
            CASE i % 4 WHEN 0 THEN ARRAY[]::text[] WHEN 1 THEN ARRAY['negative'] WHEN 2 THEN ARRAY['positive']
                ELSE ARRAY['negative', 'neutral'] END AS labels
        FROM generate_series(CAST(:lo AS bigint), CAST(:hi AS bigint)) AS i
    ) AS s
"""
RAW_NPS = """
    SELECT day, business_line, count(nps), sum((nps >= 9)::int), sum((nps <= 6)::int)
    FROM insights.feedback WHERE day BETWEEN :lo AND :hi AND nps IS NOT NULL
    GROUP BY day, business_line
"""


def scratch_url() -> str:
    base = DatabaseSettings().database_url
    return base.rsplit("/", 1)[0] + f"/{SCRATCH}"


async def recreate_scratch(drop_only: bool = False) -> None:
    admin = create_async_engine(DatabaseSettings().database_url, isolation_level="AUTOCOMMIT")
    async with admin.connect() as conn:
        await conn.execute(text(f"DROP DATABASE IF EXISTS {SCRATCH} WITH (FORCE)"))
        if not drop_only:
            await conn.execute(text(f"CREATE DATABASE {SCRATCH}"))
    await admin.dispose()


async def seed(database: Database) -> dict[str, float]:
    started = time.perf_counter()
    step = 500_000
    for lo in range(0, ROWS, step):
        async with database.connection() as conn:
            await conn.execute(text(SEED), {"lo": lo, "hi": min(lo + step, ROWS) - 1})
        say(f"   {min(lo + step, ROWS):,} rows")
    seeded = time.perf_counter() - started
    started = time.perf_counter()
    for first in range(0, DAYS + 1, 10):
        async with database.connection() as conn:
            hi = LAST_DAY - timedelta(days=first)
            await conn.execute(
                FEEDBACK.delta("f.day BETWEEN :lo AND :hi"),
                {"sign": 1, "lo": hi - timedelta(days=9), "hi": hi},
            )
    built = time.perf_counter() - started
    async with database.connection() as conn:
        await conn.execute(text("ANALYZE insights.feedback"))
        await conn.execute(text("ANALYZE insights.feedback_cells"))
        cells = (await conn.execute(text("SELECT count(*) FROM insights.feedback_cells"))).scalar_one()
    return {"seed_s": round(seeded, 1), "rollup_build_s": round(built, 1), "cells": int(cells)}


def window(offset: int) -> tuple[date, date]:
    hi = LAST_DAY - timedelta(days=offset)
    return hi - timedelta(days=WINDOW_DAYS - 1), hi


async def api_latency(url: str) -> tuple[dict[str, float], dict[str, Any]]:
    timings: list[float] = []
    async with httpx.AsyncClient(base_url=url, timeout=30, headers={"X-API-Key": DEV_OPERATOR_KEY}) as http:

        async def get(offset: int) -> dict[str, Any]:
            lo, hi = window(offset)
            params = {"metric": "nps", "group_by": "business_line", "interval": "day", "from": lo, "to": hi}
            response = await http.get("/v1/kpis", params={k: str(v) for k, v in params.items()})
            response.raise_for_status()
            body: dict[str, Any] = response.json()
            return body

        for i in range(20):
            await get(i % 30)
        for i in range(SAMPLES):
            started = time.perf_counter()
            await get(i % 30)
            timings.append((time.perf_counter() - started) * 1000)
        answer = await get(0)
    return percentiles(timings), answer


def percentiles(timings: list[float]) -> dict[str, float]:
    timings = sorted(timings)
    return {
        "p50_ms": round(statistics.median(timings), 2),
        "p95_ms": round(timings[min(len(timings) - 1, int(len(timings) * 0.95))], 2),
        "p99_ms": round(timings[min(len(timings) - 1, int(len(timings) * 0.99))], 2),
        "samples": len(timings),
    }


async def raw_scan(database: Database) -> tuple[dict[str, float], dict[tuple[str, str], float]]:
    timings: list[float] = []
    lo, hi = window(0)
    rows: list[Any] = []
    for _ in range(5):
        started = time.perf_counter()
        async with database.connection() as conn:
            rows = list(await conn.execute(text(RAW_NPS), {"lo": lo, "hi": hi}))
        timings.append((time.perf_counter() - started) * 1000)
    nps = {(str(day), line): round(100.0 * (p - d) / n, 4) for day, line, n, p, d in rows}
    return percentiles(timings), nps


def scored_events(count: int) -> list[ConsumedEvent]:
    at = datetime(2026, 11, 30, 2, tzinfo=UTC)
    events = []
    for i in range(count):
        nps = (i * 7919) % 11
        payload = FeedbackScored(
            feedback_id=uuid.uuid4(),
            customer_id=f"c{i % 400_000}",
            channel="web",
            language="zh",
            text="包装破损",
            stars=1 + nps // 3,
            stars_expected=1.0 + nps / 2.5,
            label="negative" if nps <= 6 else "positive",
            score=0.0,
            confidence=0.9,
            aspects=[Aspect(name="delivery", label="negative")] if i % 2 else [],
            model=ModelRef(id="bench", version="1"),
            nps=nps,
            business_line=LINES[i % 6],
            occurred_at=at - timedelta(minutes=i % 1440),
        )
        envelope = Envelope[FeedbackScored](
            type="feedback.scored", occurred_at=at, source="bench", key="c", payload=payload
        )
        events.append(ConsumedEvent(envelope, "bench", 0, i))  # type: ignore[arg-type]
    return events


async def apply_rates(database: Database) -> dict[str, float]:
    runtime: Any = SimpleNamespace(database=database)
    handle = insights_handler(InsightsSettings())(runtime)
    events = scored_events(APPLIED)
    started = time.perf_counter()
    for lo in range(0, APPLIED, BATCH):
        await handle(events[lo : lo + BATCH])
    handler_rate = APPLIED / (time.perf_counter() - started)
    facts_only = scored_events(APPLIED)
    started = time.perf_counter()
    for lo in range(0, APPLIED, BATCH):
        rows = [_feedback_row(e.envelope.payload, "", "Asia/Shanghai") for e in facts_only[lo : lo + BATCH]]  # type: ignore[arg-type]
        async with database.connection() as conn:
            await conn.execute(insert(feedback), rows)
    facts_rate = APPLIED / (time.perf_counter() - started)
    return {"handler_events_per_s": round(handler_rate, 1), "facts_only_events_per_s": round(facts_rate, 1)}


async def measure(env: dict[str, str]) -> dict[str, Any]:
    database = Database(DatabaseSettings.model_validate({"DATABASE_URL": scratch_url()}), "bench")
    results: dict[str, Any] = {"rows": ROWS, "days": DAYS, "window_days": WINDOW_DAYS}
    try:
        say(f"1/4 seeding {ROWS:,} feedback facts over {DAYS} days and building their rollup cells")
        results |= await seed(database)
        say(
            f"   seeded in {results['seed_s']} s; {results['cells']:,} cells built in {results['rollup_build_s']} s"
        )
        say(f"2/4 GET /v1/kpis (NPS by business line, {WINDOW_DAYS} days): {SAMPLES} sequential requests")
        with Server("services.insights.app:create_app", env=env, ready_path="/healthz") as server:
            results["kpis_get"], answer = await api_latency(server.url)
        say(f"   p95 {results['kpis_get']['p95_ms']} ms")
        say("3/4 baseline: the same series counted from the raw rows")
        results["raw_scan"], raw = await raw_scan(database)
        served = {
            (p["start"], s["group"]["business_line"]): p["value"]
            for s in answer["series"]
            for p in s["points"]
        }
        results["same_answer"] = served == raw and len(served) == WINDOW_DAYS * len(LINES)
        say(f"   p50 {results['raw_scan']['p50_ms']} ms; same numbers: {results['same_answer']}")
        say(f"4/4 applying {APPLIED:,} scored feedback in batches of {BATCH}, and the facts alone")
        results |= await apply_rates(database)
        say(f"   {results['handler_events_per_s']:.0f} vs {results['facts_only_events_per_s']:.0f} events/s")
    finally:
        await database.dispose()
    return results


def main() -> None:
    say("starting Kafka and PostgreSQL (if not running); scratch database " + SCRATCH)
    infra_up()
    asyncio.run(recreate_scratch())
    url = scratch_url()
    upgrade("insights", url)
    kafka = KafkaSettings(bootstrap_servers=infra_env()["KAFKA_BOOTSTRAP_SERVERS"], topic_suffix=".bench")
    asyncio.run(ensure_topics(kafka, list(TOPICS.values())))
    env = {**infra_env(), "DATABASE_URL": url, "LOG_LEVEL": "WARNING", "KAFKA_TOPIC_SUFFIX": ".bench"}
    try:
        results = asyncio.run(measure(env))
    finally:
        asyncio.run(recreate_scratch(drop_only=True))
    api, raw = results["kpis_get"], results["raw_scan"]
    results["ratio_raw_scan_vs_rollup_p50"] = round(raw["p50_ms"] / api["p50_ms"], 1)
    results["ratio_handler_vs_facts_only"] = round(
        results["handler_events_per_s"] / results["facts_only_events_per_s"], 2
    )
    results["checks"] = {
        "90-day daily NPS by business line p95 ≤ 200 ms": api["p95_ms"] <= 200,
        "same numbers as counting the raw rows": results["same_answer"],
    }
    table = "\n".join(
        [
            "| measure | value |",
            "| --- | --- |",
            f"| facts | {ROWS:,} over {DAYS} days; {results['cells']:,} rollup cells |",
            f"| seeding the facts / building the cells | {results['seed_s']} s / {results['rollup_build_s']} s |",
            f"| GET /v1/kpis NPS by business line, {WINDOW_DAYS} days | p50 {api['p50_ms']} ms, "
            f"**p95 {api['p95_ms']} ms** (target ≤ 200), p99 {api['p99_ms']} ms |",
            f"| the same series counted from the raw rows (SQL only) | p50 {raw['p50_ms']} ms, p95 {raw['p95_ms']} ms |",
            f"| raw scan p50 / rollup p50 | **{results['ratio_raw_scan_vs_rollup_p50']}×** |",
            f"| same numbers both ways | {results['same_answer']} |",
            f"| handler (facts + cells), batches of {BATCH} | {results['handler_events_per_s']:.0f} events/s |",
            f"| facts alone | {results['facts_only_events_per_s']:.0f} events/s "
            f"(handler/facts {results['ratio_handler_vs_facts_only']}) |",
        ]
    )
    checks = "\n".join(f"- {'PASS' if ok else 'FAIL'} {name}" for name, ok in results["checks"].items())
    path = write_report("bench-insight", results, f"{table}\n\n{checks}")
    print(path.read_text())


if __name__ == "__main__":
    main()
