"""What each service needs in a cluster: port, topics, configuration files, secrets and resources.

Topics and consumer groups come from the shared registry and the services' settings, so the
manifests follow the code; the rest is deployment policy, stated here once.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from pathlib import Path

from shared.contracts.registry import TOPICS, TopicSpec, consumed_by
from shared.kafka.consumer import EventConsumer

ROOT = Path(__file__).resolve().parents[2]
PART_OF = "feedback-platform"
IMAGE_PREFIX = "feedback-platform"
KAFKA_CLUSTER = "feedback"
KAFKA_NAMESPACE = "kafka"
KAFKA_BOOTSTRAP = f"{KAFKA_CLUSTER}-kafka-bootstrap.{KAFKA_NAMESPACE}.svc:9092"
MONITORING_NAMESPACE = "monitoring"
INGRESS_NAMESPACE = "ingress-nginx"
CONFIG_DIR = "/etc/feedback"

CONSUMER_DRAIN_S = float(inspect.signature(EventConsumer.stop).parameters["timeout"].default)
"""How long a consumer may take to drain, commit and close on SIGTERM (shared.kafka.consumer)."""
UVICORN_GRACE_S = 20
"""uvicorn's --timeout-graceful-shutdown (scripts/stack.py and the images)."""
TERMINATION_GRACE_S = int(max(CONSUMER_DRAIN_S, UVICORN_GRACE_S)) + 10


@dataclass(frozen=True)
class ConfigFile:
    """A YAML file the service reads, shipped as a ConfigMap and pointed at by an env variable."""

    source: str  # path in the repository
    env: str  # settings variable holding its path

    @property
    def name(self) -> str:
        return Path(self.source).name


@dataclass(frozen=True)
class Resources:
    cpu_request: str
    memory_request: str
    cpu_limit: str
    memory_limit: str


@dataclass(frozen=True)
class ServiceSpec:
    name: str
    port: int
    resources: Resources
    secrets: tuple[str, ...]
    """Secret env variables besides DATABASE_URL (which every service gets from feedback-database)."""
    config_files: tuple[ConfigFile, ...] = ()
    env: dict[str, str] = field(default_factory=dict)
    egress_ports: tuple[int, ...] = ()
    """Outbound TCP ports to anywhere (notification channels), besides Kafka, PostgreSQL and DNS."""
    calls: tuple[str, ...] = ()
    """Services this one calls over HTTP (allowed by the network policies on both ends)."""
    replica_cap: int | None = None
    """At most this many consumers, whatever the partitions (a service whose state spans partitions)."""
    standby_replicas: int = 0
    """Replicas beside the leader (leader-elected services): they serve HTTP and take over its work."""

    @property
    def consumes(self) -> list[TopicSpec]:
        return consumed_by(self.name)

    @property
    def consumer_group(self) -> str | None:
        return self.name if self.consumes else None

    @property
    def max_replicas(self) -> int:
        """A consumer beyond the partition count of every topic it reads would sit idle."""
        most = max(spec.partitions for spec in self.consumes)
        return most if self.replica_cap is None else min(most, self.replica_cap)

    @property
    def image(self) -> str:
        return f"{IMAGE_PREFIX}/{self.name}"


SERVICES = (
    ServiceSpec(
        "ingest",
        8001,
        Resources("250m", "256Mi", "1", "512Mi"),
        secrets=("OPERATOR_API_KEY", "INGEST_API_KEYS", "INGEST_PSEUDONYM_KEY"),
        # One CPU per pod, scaled out by the HPA: a batch helper process would only share that CPU.
        env={"INGEST_PREPARE_WORKERS": "0"},
    ),
    ServiceSpec(
        "sentiment",
        8002,
        Resources("1", "768Mi", "2", "1536Mi"),
        secrets=("OPERATOR_API_KEY",),
        config_files=(ConfigFile("services/sentiment/aspects.yaml", "SENTIMENT_ASPECTS_PATH"),),
        env={"SENTIMENT_THREADS": "2"},
    ),
    ServiceSpec(
        "alerting",
        8003,
        Resources("250m", "384Mi", "1", "768Mi"),
        secrets=("OPERATOR_API_KEY", "ALERTING_WEBHOOK_SECRET", "ALERTING_LOYALTY_API_KEY"),
        config_files=(ConfigFile("services/alerting/rules.yaml", "ALERTING_RULES_PATH"),),
        env={
            "ALERTING_LOYALTY_URL": "http://loyalty:8004",  # the console's member lookup
            # L3/L4 escalations: the Prometheus Operator's service for its Alertmanagers, in the namespace
            # of the ServiceMonitors; a private address, so allowed past the SSRF guard by name.
            "ALERTING_ALERTMANAGER_URL": f"http://alertmanager-operated.{MONITORING_NAMESPACE}.svc:9093",
            "ALERTING_WEBHOOK_ALLOW": f'["alertmanager-operated.{MONITORING_NAMESPACE}.svc"]',
        },
        egress_ports=(443, 25, 465, 587, 9093),
        calls=("loyalty",),
        # Windows count per business line, region or store while feedback is partitioned by customer:
        # one consumer must see every partition, or each replica would count only its share of a window.
        # So one elected leader consumes (shared/leader.py) and a standby takes over when it dies.
        replica_cap=1,
        standby_replicas=1,
    ),
    ServiceSpec(
        "loyalty",
        8004,
        Resources("250m", "256Mi", "1", "512Mi"),
        secrets=("OPERATOR_API_KEY", "LOYALTY_API_KEYS"),
        config_files=(ConfigFile("services/loyalty/earning_rules.yaml", "LOYALTY_RULES_PATH"),),
    ),
    ServiceSpec(
        "insights",
        8005,
        Resources("250m", "256Mi", "1", "512Mi"),
        secrets=("OPERATOR_API_KEY", "INSIGHTS_API_KEYS"),
    ),
)
BY_NAME = {svc.name: svc for svc in SERVICES}
HPA_CPU = {"ingest": (2, 10, 70)}
"""Services scaled on CPU: (min, max, target utilisation %). Consumers scale on lag instead."""
LAG_THRESHOLD = 500
"""Messages of lag per replica before KEDA adds one."""


def topic_specs() -> list[TopicSpec]:
    return list(TOPICS.values())
