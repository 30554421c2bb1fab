"""The five real services as subprocesses on free ports, with topics and consumer groups of their own.

Used by the end-to-end tests and `make bench-e2e`: the same uvicorn apps `make up` runs, each with a
unique KAFKA_TOPIC_SUFFIX and consumer groups, so they share the broker and database with anything else.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

import yaml

from scripts.infra import free_port
from scripts.servers import Server
from scripts.stack import infra_env
from services.alerting.rules import DEFAULT_RULES
from shared.contracts.registry import TOPICS, consumed_by
from shared.kafka.admin import ensure_topics
from shared.settings import KafkaSettings

ServiceName = Literal["ingest", "sentiment", "alerting", "loyalty", "insights"]
SERVICES: tuple[ServiceName, ...] = ("ingest", "sentiment", "alerting", "loyalty", "insights")
CONSUMERS: tuple[ServiceName, ...] = ("sentiment", "alerting", "loyalty", "insights")
INGEST_KEY = {"X-API-Key": "dev-ingest-key"}
OPERATOR_KEY = {"X-API-Key": "dev-operator-key"}


class Platform:
    """ingest, sentiment, alerting, loyalty and insights on free ports; alerting pages `webhook_url`.

    `env` overrides or adds variables (e.g. DATABASE_URL, KAFKA_BOOTSTRAP_SERVERS of a private node).
    """

    def __init__(
        self,
        logs: Path,
        webhook_url: str,
        rules_path: Path | None = None,
        env: dict[str, str] | None = None,
        rule_suffix: str = "",
    ) -> None:
        self.rule_suffix = rule_suffix
        """What the rule ids in `rules_path` carry after their usual names (tests make them unique)."""
        self.suffix = f".e{uuid.uuid4().hex[:10]}"
        tag = uuid.uuid4().hex[:8]
        self.ports = {name: free_port() for name in SERVICES}
        self.env = {
            **infra_env(),
            "KAFKA_TOPIC_SUFFIX": self.suffix,
            "INGEST_RATE_LIMIT_PER_S": "0",
            "SENTIMENT_CONSUMER_GROUP": f"sentiment-{tag}",
            "ALERTING_CONSUMER_GROUP": f"alerting-{tag}",
            "LOYALTY_CONSUMER_GROUP": f"loyalty-{tag}",
            "INSIGHTS_CONSUMER_GROUP": f"insights-{tag}",
            "LOYALTY_SCHEDULE_INTERVAL_S": "0",
            "ALERTING_WEBHOOK_URL": webhook_url,
            "ALERTING_WEBHOOK_ALLOW": json.dumps(["127.0.0.1"]),
            "ALERTING_NOTIFY_INTERVAL_S": "0.1",
            "ALERTING_LOYALTY_URL": f"http://127.0.0.1:{self.ports['loyalty']}",
            "ALERTING_INSIGHTS_URL": f"http://127.0.0.1:{self.ports['insights']}",
            "LOG_LEVEL": "WARNING",
            **({"ALERTING_RULES_PATH": str(rules_path)} if rules_path else {}),
            **(env or {}),
        }
        logs.mkdir(parents=True, exist_ok=True)
        self.servers = {
            name: Server(
                f"services.{name}.app:create_app",
                self.ports[name],
                self.env,
                ready_path="/readyz",
                log=logs / f"{name}.log",
                ready_timeout_s=120,
            )
            for name in SERVICES
        }

    @property
    def kafka(self) -> KafkaSettings:
        return KafkaSettings(bootstrap_servers=self.env["KAFKA_BOOTSTRAP_SERVERS"], topic_suffix=self.suffix)

    def url(self, name: ServiceName) -> str:
        return self.servers[name].url

    def topic(self, name: str) -> str:
        return name + self.suffix

    async def create_topics(self) -> list[str]:
        return await ensure_topics(self.kafka, list(TOPICS.values()))

    def start(self) -> None:
        """Start all five at once (they load in parallel) and wait until each is ready."""
        for server in self.servers.values():
            server.spawn()
        try:
            for server in self.servers.values():
                server.wait_ready()
        except RuntimeError:
            self.stop()
            raise

    def stop(self) -> None:
        for server in self.servers.values():
            server.stop()

    def pids(self) -> dict[ServiceName, int]:
        return {n: s.process.pid for n, s in self.servers.items() if s.process is not None}

    async def delete_topics(self) -> None:
        from aiokafka.admin import AIOKafkaAdminClient

        admin = AIOKafkaAdminClient(bootstrap_servers=self.kafka.bootstrap_servers)
        await admin.start()
        try:
            names = [self.topic(n) for spec in TOPICS.values() for n in (spec.name, spec.dlq)]
            await admin.delete_topics(names)
        finally:
            await admin.close()


@contextmanager
def running(platform: Platform) -> Iterator[Platform]:
    """Topics created, services started; services stopped and topics deleted afterwards."""
    asyncio.run(platform.create_topics())
    try:
        platform.start()
        yield platform
    finally:
        platform.stop()
        asyncio.run(platform.delete_topics())


_FORGET = [
    "DELETE FROM alerting.delivery_attempts WHERE delivery_id IN (SELECT d.id FROM alerting.deliveries d"
    " JOIN alerting.alerts a ON a.id = d.alert_id WHERE a.rule_id LIKE :rules)",
    "DELETE FROM alerting.deliveries"
    " WHERE alert_id IN (SELECT id FROM alerting.alerts WHERE rule_id LIKE :rules)",
    "DELETE FROM alerting.timeline"
    " WHERE alert_id IN (SELECT id FROM alerting.alerts WHERE rule_id LIKE :rules)",
    "DELETE FROM alerting.window_cells WHERE rule_id LIKE :rules",
    "DELETE FROM alerting.callbacks WHERE rule_id LIKE :rules",
    "DELETE FROM alerting.alerts WHERE rule_id LIKE :rules",
]


async def forget_alerts(rule_ids_like: str) -> None:
    """Removes the alerts (and their timelines, deliveries, window cells, callbacks) of a run's own rules
    from the shared database, so a later test's virtual clock does not escalate thousands of leftovers."""
    from sqlalchemy import text

    from shared.db.engine import Database
    from shared.settings import DatabaseSettings

    database = Database(DatabaseSettings(), "cleanup")
    try:
        async with database.connection() as conn:
            for statement in _FORGET:
                await conn.execute(text(statement), {"rules": rule_ids_like})
    finally:
        await database.dispose()


def webhook_rules(
    directory: Path,
    url: str,
    suffix: str = "",
    resolution_targets: bool = True,
    handoff_notices: bool = False,
    **overrides: Any,
) -> Path:
    """The project's alert rules with every target paging `url` by webhook (no Slack, e-mail or pager);
    rule ids carry `suffix`, so a run's alerts can be told apart (and forgotten) afterwards; without
    `resolution_targets`, alerts escalate on timeouts only; hand-off notices only if asked for (a run
    crossing a shift change would otherwise page its receiver with one); `overrides` replace top-level
    sections."""
    doc = yaml.safe_load(DEFAULT_RULES.read_text())
    for rule in doc["rules"]:
        rule["id"] = f"{rule['id']}{suffix}"
    for policy in doc["policies"].values():
        for step in policy["steps"]:
            if not resolution_targets:
                step.pop("resolve_within", None)
            for target in step["targets"]:
                target["channels"] = ["webhook"]
    for schedule in doc.get("schedules", {}).values():
        schedule["notify_handoff"] = handoff_notices
    people = {p for s in doc.get("schedules", {}).values() for p in s["people"]}
    teams = {t["name"] for p in doc["policies"].values() for s in p["steps"] for t in s["targets"]}
    doc["contacts"] = {name: {"webhook": url} for name in people | teams}
    doc.update(overrides)
    path = directory / f"rules{suffix or '-webhook'}.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True))
    return path


class LagProbe:
    """Consumer lag of each service's group: end offsets minus committed offsets, summed over partitions."""

    def __init__(self, platform: Platform) -> None:
        self.platform = platform
        self.groups = {
            name: (
                platform.env[f"{name.upper()}_CONSUMER_GROUP"],
                [platform.topic(s.name) for s in consumed_by(name)],
            )
            for name in CONSUMERS
        }

    async def __aenter__(self) -> LagProbe:
        from aiokafka import AIOKafkaConsumer
        from aiokafka.admin import AIOKafkaAdminClient

        bootstrap = self.platform.kafka.bootstrap_servers
        self.admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        self.offsets = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None)
        await self.admin.start()
        await self.offsets.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.offsets.stop()
        await self.admin.close()

    async def lag(self) -> dict[str, int]:
        from aiokafka import TopicPartition

        out: dict[str, int] = {}
        for name, (group, topics) in self.groups.items():
            partitions = [
                TopicPartition(topic, p)
                for topic in topics
                for p in range(TOPICS[topic.removesuffix(self.platform.suffix)].partitions)
            ]
            ends = await self.offsets.end_offsets(partitions)
            committed = await self.admin.list_consumer_group_offsets(group)
            out[name] = sum(
                max(end - (committed[tp].offset if tp in committed else 0), 0) for tp, end in ends.items()
            )
        return out
