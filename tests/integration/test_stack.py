"""`make up` in miniature: the stack script starts the four real uvicorn services, each ready and
serving metrics, with the registry's topics on the broker, and a real Prometheus scraping them with the
project's rules and sending alerts to a real Alertmanager; every metric a dashboard or rule names is
really exported; stopping leaves no process."""

from __future__ import annotations

import asyncio
import json
import os
import urllib.parse
import urllib.request
from dataclasses import replace

import pytest
from aiokafka.admin import AIOKafkaAdminClient

from scripts import stack
from scripts.infra import free_port, pid_alive, process_alive
from scripts.prometheus_node import AlertmanagerNode, PrometheusNode
from shared.contracts.registry import TOPICS
from tests.deploy.promql import (
    BUILT_IN,
    dashboard_expressions,
    exported_names,
    metric_names,
    recorded_names,
    rule_expressions,
)
from tests.integration.helpers import eventually_sync

pytestmark = pytest.mark.integration
SERVICES = ("ingest", "sentiment", "alerting", "loyalty", "insights")


def get(url: str) -> tuple[int, str, str]:
    with urllib.request.urlopen(url, timeout=5) as response:
        return response.status, response.headers["content-type"], response.read().decode()


async def test_stack_starts_every_service_ready_and_stops_them_all(monkeypatch, tmp_path):
    ports = {name: free_port() for name in SERVICES}
    for name, port in ports.items():
        monkeypatch.setenv(f"{name.upper()}_PORT", str(port))
    monkeypatch.setattr(stack, "RUN_DIR", tmp_path / "run")
    monkeypatch.setattr(stack, "LOG_DIR", tmp_path / "logs")
    admin = AIOKafkaAdminClient(bootstrap_servers=os.environ["KAFKA_BOOTSTRAP_SERVERS"])
    await admin.start()
    try:
        existing = set(await admin.list_topics())
    finally:
        await admin.close()
    for spec in TOPICS.values():
        assert {spec.name, spec.dlq} <= existing

    prometheus = PrometheusNode(home=tmp_path / "prometheus", port=free_port())
    alertmanager = AlertmanagerNode(home=tmp_path / "alertmanager", port=free_port())
    try:
        await asyncio.to_thread(stack.start_services, False)
        exported: set[str] = set()
        for name, port in ports.items():
            base = f"http://127.0.0.1:{port}"
            assert get(f"{base}/healthz")[0] == 200
            assert get(f"{base}/readyz")[0] == 200
            status, content_type, body = get(f"{base}/metrics")
            assert status == 200
            assert content_type.startswith("text/plain")
            assert "# TYPE http_requests_total counter" in body, name
            exported |= exported_names(body)
        assert_every_named_metric_is_exported(exported)
        # Their ports are picked only now: a port found free before the services started may since have
        # become one of the services' outgoing connections (both come from the ephemeral range).
        alertmanager = replace(alertmanager, port=free_port())
        await asyncio.to_thread(alertmanager.start)
        prometheus = replace(prometheus, port=free_port())
        await asyncio.to_thread(prometheus.start, ports, 1, [alertmanager.address])
        await asyncio.to_thread(assert_prometheus_sees_every_service_up, prometheus.url)
        await asyncio.to_thread(assert_prometheus_sends_to, prometheus.url, alertmanager.url)
        await asyncio.to_thread(assert_dashboards_and_rules_evaluate, prometheus.url)
    finally:
        pids = {name: pid_alive(tmp_path / "run" / f"{name}.pid") for name in SERVICES}
        prometheus_pid = pid_alive(prometheus.pid_file)
        alertmanager_pid = pid_alive(alertmanager.pid_file)
        await asyncio.to_thread(prometheus.stop)
        await asyncio.to_thread(alertmanager.stop)
        await asyncio.to_thread(stack.stop_services)
    assert prometheus_pid is not None
    assert not process_alive(prometheus_pid)
    assert alertmanager_pid is not None
    assert not process_alive(alertmanager_pid)
    assert all(pids.values()), "every service had a live process"
    for name, pid in pids.items():
        assert pid is not None
        assert not process_alive(pid), name
        assert not (tmp_path / "run" / f"{name}.pid").exists()


def assert_every_named_metric_is_exported(exported: set[str]) -> None:
    """No panel or rule on a metric that does not exist: each is scraped, recorded or Prometheus's own."""
    known = exported | recorded_names() | BUILT_IN
    missing = {
        where: sorted(metric_names(expr) - known)
        for where, expr in {**dashboard_expressions(), **rule_expressions()}.items()
        if metric_names(expr) - known
    }
    assert not missing, missing


def query(base: str, promql: str) -> dict:  # type: ignore[type-arg]
    url = f"{base}/api/v1/query?" + urllib.parse.urlencode({"query": promql})
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.loads(response.read())  # type: ignore[no-any-return]


def assert_prometheus_sees_every_service_up(base: str, timeout_s: float = 30.0) -> None:
    up: dict[str, str] = {}

    def every_service_up() -> bool:
        nonlocal up
        result = query(base, "up")["data"]["result"]
        up = {series["metric"]["job"]: series["value"][1] for series in result}
        return up == dict.fromkeys(SERVICES, "1")

    try:
        eventually_sync(every_service_up, timeout_s, "Prometheus up{job} = 1 for every service")
    except AssertionError as exc:
        raise AssertionError(f"{exc}; last up{{job}}: {up}") from None


def assert_prometheus_sends_to(base: str, alertmanager: str, timeout_s: float = 30.0) -> None:
    """Prometheus lists the Alertmanager as active (it discovered and reached it)."""
    active: list[str] = []

    def any_active() -> bool:
        nonlocal active
        with urllib.request.urlopen(f"{base}/api/v1/alertmanagers", timeout=5) as response:
            data = json.loads(response.read())["data"]
        active = [entry["url"] for entry in data["activeAlertmanagers"]]
        return bool(active)

    eventually_sync(any_active, timeout_s, "an active Alertmanager listed by Prometheus")
    assert active == [f"{alertmanager}/api/v2/alerts"], active


def assert_dashboards_and_rules_evaluate(base: str, timeout_s: float = 30.0) -> None:
    """Every dashboard query is valid PromQL to the real server, and every rule evaluates without error."""
    for where, expr in dashboard_expressions().items():
        promql = expr.replace("$__rate_interval", "1m").replace("$__range", "5m")
        assert query(base, promql)["status"] == "success", where
    health: dict[str, str] = {}

    def every_rule_healthy() -> bool:
        nonlocal health
        with urllib.request.urlopen(f"{base}/api/v1/rules", timeout=5) as response:
            groups = json.loads(response.read())["data"]["groups"]
        health = {rule["name"]: rule["health"] for group in groups for rule in group["rules"]}
        return len(health) == len(rule_expressions()) and set(health.values()) == {"ok"}

    try:
        eventually_sync(every_rule_healthy, timeout_s, "every rule evaluated healthy")
    except AssertionError as exc:
        raise AssertionError(f"{exc}; last health: {health}") from None
