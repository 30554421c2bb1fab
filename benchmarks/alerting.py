"""bench-alerting: rule evaluation throughput (100 rules, 1,000 groups) against a bare consume-and-deserialize
loop over the same records, and scored event → webhook delivered latency at 500 events/s — one run. The
delivery path is the production one: two replicas (an elected leader and a standby), an active silence to
check at every decision, and each page also rendered from the templates and sent as a Slack Block Kit
message to the same receiver.

Run with `make bench-alerting`; writes reports/bench-alerting.{json,md}.
"""

from __future__ import annotations

import asyncio
import json
import random
import statistics
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import yaml

from benchmarks.common import ROOT, Server, say, write_report
from scripts.harness import forget_alerts
from scripts.stack import infra_env, infra_up
from services.alerting.evaluation.columns import columns
from services.alerting.evaluation.engine import RuleEngine
from services.alerting.rules import AlertingConfig
from shared.contracts.codec import decode
from shared.contracts.feedback import FeedbackScored
from shared.contracts.registry import FEEDBACK_SCORED

EVENTS = 60_000
BATCH = 500
LINES = [f"bl{i}" for i in range(40)]
REGIONS = [f"r{i}" for i in range(25)]  # 40 x 25 = 1,000 groups
DIMENSIONS = [
    ["business_line", "region"],
    ["business_line"],
    ["region"],
    ["business_line", "region", "channel"],
]


def hundred_rules() -> AlertingConfig:
    """100 rules of every kind over several group-by combinations (the shape of a big deployment)."""
    rules: list[dict[str, Any]] = []
    for i in range(100):
        group_by = DIMENSIONS[i % len(DIMENSIONS)]
        kind = i % 5
        base = {"id": f"rule-{i}", "group_by": group_by, "start_level": "L2"}
        if kind == 0:
            rules.append(
                base
                | {
                    "kind": "windowed_rate",
                    "match": {"labels": ["negative"]},
                    "window": "1h",
                    "threshold": 0.3 + (i % 7) / 100,
                    "min_samples": 20,
                }
            )
        elif kind == 1:
            rules.append(
                base
                | {
                    "kind": "keyword_count",
                    "match": {"keywords": ["生锈", "rust", f"kw{i}"]},
                    "window": "24h",
                    "threshold": 5,
                }
            )
        elif kind == 2:
            rules.append(
                base
                | {
                    "kind": "baseline_spike",
                    "filter": {"labels": ["negative"]},
                    "window": "1h",
                    "factor": 1.2,
                    "min_count": 20,
                }
            )
        elif kind == 3:
            rules.append(
                base
                | {
                    "kind": "score_benchmark",
                    "metric": "nps" if i % 2 else "csat",
                    "benchmark": 32 if i % 2 else 4.2,
                    "days": 3,
                    "min_samples": 20,
                }
            )
        else:
            rules.append(
                base
                | {
                    "kind": "per_feedback",
                    "match": {"stars_max": 1, "channels": ["app", "web"]},
                    "group_by": ["feedback_id"],
                }
            )
    policy = {"steps": [{"level": "L1", "timeout": "2h", "targets": [{"kind": "team", "name": "t"}]}]}
    return AlertingConfig.model_validate({"rules": rules, "policies": {"default": policy}})


def records(n: int) -> list[bytes]:
    rng = random.Random(7)
    start = datetime(2026, 11, 20, tzinfo=UTC)
    out = []
    for i in range(n):
        label = rng.choice(["negative", "neutral", "positive", "positive"])
        payload = FeedbackScored.model_validate(
            {
                "feedback_id": str(uuid.UUID(int=rng.getrandbits(128))),
                "customer_id": f"C{rng.randrange(10**6)}",
                "channel": rng.choice(["web", "app", "email", "phone"]),
                "language": "zh",
                "text": rng.choice(["包装破损", "刀具生锈了", "很满意", "the box was rusty", "物流很快"]),
                "stars": {"negative": 1, "neutral": 3, "positive": 5}[label],
                "stars_expected": 3.0,
                "label": label,
                "score": 0.0,
                "confidence": 0.9,
                "model": {"id": "m", "version": "1"},
                "nps": rng.randrange(11),
                "csat": rng.randrange(1, 6),
                "business_line": rng.choice(LINES),
                "region": rng.choice(REGIONS),
                "occurred_at": (start + timedelta(seconds=i * 3)).isoformat(),
            }
        )
        envelope = {
            "event_id": str(uuid.uuid4()),
            "type": "feedback.scored",
            "version": 1,
            "occurred_at": payload.occurred_at.isoformat(),
            "source": "bench",
            "key": payload.customer_id,
            "payload": json.loads(payload.model_dump_json()),
        }
        out.append(json.dumps(envelope).encode())
    return out


def evaluation_rate(raw: list[bytes]) -> dict[str, float]:
    """Three loops over the same records in batches: decode only (the bare consume-and-deserialize
    baseline), rule evaluation only (columns + 100 rules on decoded batches), and both together."""
    began = time.perf_counter()
    decoded = [
        [decode(FEEDBACK_SCORED, value).payload for value in raw[start : start + BATCH]]
        for start in range(0, len(raw), BATCH)
    ]
    bare = len(raw) / (time.perf_counter() - began)
    engine = RuleEngine(hundred_rules())
    began = time.perf_counter()
    signals = 0
    for batch in decoded:
        signals += len(engine.process(columns(batch, {})).signals)  # type: ignore[arg-type]
    evaluation = len(raw) / (time.perf_counter() - began)
    groups = sum(len(c.groups.keys) for c in engine.rules)
    engine = RuleEngine(hundred_rules())
    began = time.perf_counter()
    for start in range(0, len(raw), BATCH):
        batch = [decode(FEEDBACK_SCORED, value).payload for value in raw[start : start + BATCH]]
        engine.process(columns(batch, {}))  # type: ignore[arg-type]
    pipeline = len(raw) / (time.perf_counter() - began)
    return {
        "bare_events_per_s": bare,
        "evaluation_events_per_s": evaluation,
        "decode_and_evaluate_events_per_s": pipeline,
        "signals": signals,
        "interned_groups": groups,
    }


class Receiver:
    def __init__(self) -> None:
        self.arrivals: dict[str, float] = {}
        self.rendered = 0
        """Slack messages received (pages rendered from the templates)."""
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as real webhook receivers do

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                if "blocks" in body:
                    receiver.rendered += 1
                for feedback_id in body.get("alert", {}).get("feedback_ids", []):
                    receiver.arrivals.setdefault(feedback_id, time.time())
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"


async def _produce(bootstrap: str, topic: str, rate: int, seconds: int) -> dict[str, float]:
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=2)
    await producer.start()
    sent: dict[str, float] = {}
    try:
        began = time.perf_counter()
        for i in range(rate * seconds):
            await asyncio.sleep(max(0.0, began + i / rate - time.perf_counter()))
            feedback_id, customer_id = str(uuid.uuid4()), f"C{i}"
            payload: dict[str, Any] = {
                "feedback_id": feedback_id,
                "customer_id": customer_id,
                "channel": "app",
                "language": "zh",
                "text": "刀具生锈了",
                "stars": 1,
                "stars_expected": 1.2,
                "label": "negative",
                "score": -0.9,
                "confidence": 0.95,
                "model": {"id": "m", "version": "1"},
                "business_line": LINES[i % 40],
                "occurred_at": datetime.now(UTC).isoformat(),
            }
            envelope = {
                "event_id": str(uuid.uuid4()),
                "type": "feedback.scored",
                "version": 1,
                "occurred_at": payload["occurred_at"],
                "source": "bench",
                "key": payload["customer_id"],
                "payload": payload,
            }
            sent[feedback_id] = time.time()
            await producer.send(topic, json.dumps(envelope).encode(), key=customer_id.encode())
        await producer.flush()
    finally:
        await producer.stop()
    return sent


def _silence(base: str) -> None:
    """An active silence of another rule: checked at every notification decision, holding nothing here."""
    import urllib.request

    body = json.dumps(
        {
            "matchers": [{"name": "rule", "value": "not-this-rule"}],
            "ends_at": (datetime.now(UTC) + timedelta(hours=1)).isoformat(),
            "created_by": "bench",
            "comment": "bench-alerting: a silence in the path",
        }
    ).encode()
    request = urllib.request.Request(
        f"{base}/v1/silences",
        data=body,
        headers={"Content-Type": "application/json", "X-API-Key": "dev-operator-key"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 201


def delivery_latency(rate: int = 500, seconds: int = 20) -> dict[str, Any]:
    receiver = Receiver()
    suffix = f".bench{uuid.uuid4().hex[:6]}"
    doc = yaml.safe_load((ROOT / "services/alerting/rules.yaml").read_text())
    doc["rules"] = [r for r in doc["rules"] if r["kind"] == "per_feedback"]
    doc["rules"][0]["id"] = f"bench-one-star-{uuid.uuid4().hex[:6]}"
    for step in doc["policies"]["default"]["steps"]:
        for target in step["targets"]:
            target["channels"] = ["webhook", "slack"]
    rules = Path(tempfile.mkdtemp()) / "rules.yaml"
    rules.write_text(yaml.safe_dump(doc, allow_unicode=True))
    env = {
        **infra_env(),
        "KAFKA_TOPIC_SUFFIX": suffix,
        "LOG_LEVEL": "WARNING",
        "ALERTING_RULES_PATH": str(rules),
        "ALERTING_WEBHOOK_URL": receiver.url,
        "ALERTING_SLACK_URL": receiver.url,
        "ALERTING_WEBHOOK_ALLOW": '["127.0.0.1"]',
        "ALERTING_CONSUMER_GROUP": f"bench-{suffix}",
        "ALERTING_NOTIFY_INTERVAL_S": "0.05",
    }
    asyncio.run(_create_topics(env["KAFKA_BOOTSTRAP_SERVERS"], suffix))
    with (
        Server("services.alerting.app:create_app", env=env, ready_path="/readyz") as leader,
        Server("services.alerting.app:create_app", env=env, ready_path="/readyz"),  # the standby
    ):
        time.sleep(3)
        _silence(leader.url)
        sent = asyncio.run(
            _produce(env["KAFKA_BOOTSTRAP_SERVERS"], "feedback.scored.v1" + suffix, rate, seconds)
        )
        deadline = time.time() + 60
        while len(receiver.arrivals) < len(sent) and time.time() < deadline:
            time.sleep(0.5)
    receiver.server.shutdown()
    asyncio.run(forget_alerts(doc["rules"][0]["id"]))
    asyncio.run(_delete_topics(env["KAFKA_BOOTSTRAP_SERVERS"], suffix))
    latencies = sorted((receiver.arrivals[f] - t) * 1000 for f, t in sent.items() if f in receiver.arrivals)
    return {
        "rate": rate,
        "seconds": seconds,
        "sent": len(sent),
        "delivered": len(latencies),
        "slack_rendered_delivered": receiver.rendered,
        "p50_ms": statistics.median(latencies) if latencies else None,
        "p95_ms": latencies[int(0.95 * len(latencies)) - 1] if latencies else None,
    }


async def _delete_topics(bootstrap: str, suffix: str) -> None:
    """A broker that keeps every run's topics starts slower and slower: the run's own are removed."""
    from aiokafka.admin import AIOKafkaAdminClient

    from shared.contracts.registry import TOPICS

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.delete_topics([n + suffix for spec in TOPICS.values() for n in (spec.name, spec.dlq)])
    finally:
        await admin.close()


async def _create_topics(bootstrap: str, suffix: str) -> None:
    from shared.contracts.registry import TOPICS
    from shared.kafka.admin import ensure_topics
    from shared.settings import KafkaSettings

    await ensure_topics(
        KafkaSettings(bootstrap_servers=bootstrap, topic_suffix=suffix), list(TOPICS.values())
    )


def main() -> None:
    say(f"1/2 rule evaluation: {EVENTS} scored events, 100 rules, 1,000 groups, batches of {BATCH}")
    raw = records(EVENTS)
    results: dict[str, Any] = {"evaluation": evaluation_rate(raw)}
    say(f"   {results['evaluation']}")
    say("2/2 scored event → webhook delivered at 500 events/s (one-star rule: every event pages)")
    infra_up()
    results["delivery"] = delivery_latency()
    say(f"   {results['delivery']}")
    ev, dl = results["evaluation"], results["delivery"]
    ratio = ev["evaluation_events_per_s"] / ev["bare_events_per_s"]
    checks = {
        "rule evaluation >= 20,000 events/s": ev["evaluation_events_per_s"] >= 20_000,
        "webhook p95 <= 500 ms at 500 events/s": dl["p95_ms"] is not None and dl["p95_ms"] <= 500,
        "every event delivered": dl["delivered"] == dl["sent"],
        "every page also rendered and sent to Slack": dl["slack_rendered_delivered"] >= dl["sent"],
    }
    results["ratios"] = {
        "evaluation_vs_bare_decode": round(ratio, 3),
        "decode_and_evaluate_vs_bare_decode": round(
            ev["decode_and_evaluate_events_per_s"] / ev["bare_events_per_s"], 3
        ),
    }
    results["checks"] = checks
    table = "\n".join(
        [
            "| measure | value |",
            "| --- | --- |",
            f"| bare consume-and-deserialize loop | {ev['bare_events_per_s']:.0f} events/s |",
            f"| rule evaluation: 100 rules over 1,000 groups (decoded batches) | **{ev['evaluation_events_per_s']:.0f} events/s** (target >= 20,000) |",
            f"| ratio evaluation / bare decode | {ratio:.2f}× |",
            f"| decode + evaluate in one loop | {ev['decode_and_evaluate_events_per_s']:.0f} events/s "
            f"({results['ratios']['decode_and_evaluate_vs_bare_decode']:.0%} of bare) |",
            f"| Slack Block Kit pages rendered from the templates and delivered | {dl['slack_rendered_delivered']} |",
            f"| scored → webhook at {dl['rate']}/s for {dl['seconds']} s (leader + standby, a silence, "
            f"+ Slack) | delivered {dl['delivered']}/{dl['sent']}, "
            f"p50 {dl['p50_ms']:.0f} ms, **p95 {dl['p95_ms']:.0f} ms** (target <= 500 ms) |"
            if dl["p95_ms"]
            else "| delivery | none |",
        ]
    )
    verdict = "\n".join(f"- {'PASS' if ok else 'FAIL'}: {name}" for name, ok in checks.items())
    print(write_report("bench-alerting", results, table + "\n\n" + verdict).read_text())


if __name__ == "__main__":
    main()
