"""compose.yaml cannot run here (no Docker), so it is held to what it must agree with: the ports of
`make run` and the k8s Services, variables the services really read, topics and migrations created by
the same code as `make run`, and a Prometheus scraping every service with the project's rules and
sending to the Alertmanager that also takes the alerting service's escalations."""

from __future__ import annotations

from typing import Any

import yaml

from scripts import stack
from scripts.deploygen.catalog import BY_NAME, ROOT, SERVICES
from scripts.prometheus_node import AlertmanagerNode, alertmanager_config
from tests.deploy.conftest import Rendered, of_kind
from tests.deploy.settings_env import service_env

ALERTMANAGER_PORT = 9093
"""The image's own port, inside the compose network."""
COMPOSE: dict[str, Any] = yaml.safe_load((ROOT / "compose.yaml").read_text())["services"]


def test_services_listen_where_make_run_and_the_cluster_put_them(rendered: Rendered):
    k8s_services = of_kind(rendered["prod"], "Service")
    for svc in SERVICES:
        entry = COMPOSE[svc.name]
        assert entry["ports"] == [f"{stack.SERVICES[svc.name]}:{svc.port}"]
        assert k8s_services[svc.name]["spec"]["ports"][0]["port"] == svc.port == stack.SERVICES[svc.name]
        assert entry["build"]["dockerfile"] == f"deploy/docker/{svc.name}.Dockerfile"
        assert (ROOT / entry["build"]["dockerfile"]).exists()


def test_every_variable_is_one_the_service_reads_and_points_at_compose_hosts():
    for svc in SERVICES:
        env = COMPOSE[svc.name]["environment"]
        assert set(env) <= service_env(svc.name), set(env) - service_env(svc.name)
        assert env["KAFKA_BOOTSTRAP_SERVERS"].split(":")[0] in COMPOSE
        assert "@postgres:" in env["DATABASE_URL"]
        assert "KAFKA_TOPIC_SUFFIX" not in env, "compose uses the registry's topic names"
        for key, value in env.items():
            if key.endswith("_URL") and key != "DATABASE_URL":
                host, port = value.split("//")[1].split(":")
                assert int(port) == (BY_NAME[host].port if host in BY_NAME else ALERTMANAGER_PORT), key


def test_topics_and_migrations_come_from_the_code_before_any_service_starts(rendered: Rendered):
    assert COMPOSE["topics"]["command"] == ["python", "-m", "shared.kafka.admin"]
    jobs = of_kind(rendered["prod"], "Job")
    for svc in SERVICES:
        migrate = COMPOSE[f"{svc.name}-migrate"]
        assert (
            migrate["command"]
            == jobs[f"{svc.name}-migrate"]["spec"]["template"]["spec"]["containers"][0]["command"]
        )
        assert migrate["build"]["dockerfile"] == COMPOSE[svc.name]["build"]["dockerfile"]
        after = COMPOSE[svc.name]["depends_on"]
        assert (
            after["topics"]["condition"]
            == after[f"{svc.name}-migrate"]["condition"]
            == ("service_completed_successfully")
        )


def test_prometheus_scrapes_every_service_with_the_project_rules():
    prometheus = COMPOSE["prometheus"]
    pairs = (volume.rsplit(":", 1)[0].split(":") for volume in prometheus["volumes"])
    mounts = {target: source for source, target in pairs}
    config = yaml.safe_load((ROOT / mounts["/etc/prometheus/prometheus.yml"].removeprefix("./")).read_text())
    targets = {job["job_name"]: job["static_configs"][0]["targets"] for job in config["scrape_configs"]}
    assert targets == {svc.name: [f"{svc.name}:{svc.port}"] for svc in SERVICES}
    rules_dir = mounts["/etc/prometheus/rules"].removeprefix("./")
    assert {f"/etc/prometheus/rules/{p.name}" for p in (ROOT / rules_dir).glob("*.yml")} == set(
        config["rule_files"]
    )


def test_prometheus_and_the_alerting_service_send_to_the_alertmanager():
    prometheus = yaml.safe_load((ROOT / "deploy/prometheus/prometheus.compose.yml").read_text())
    (sink,) = prometheus["alerting"]["alertmanagers"]
    assert sink["static_configs"][0]["targets"] == [f"alertmanager:{ALERTMANAGER_PORT}"]
    alertmanager = COMPOSE["alertmanager"]
    assert alertmanager["image"].startswith("prom/alertmanager:")
    assert alertmanager["ports"] == [f"{AlertmanagerNode().port}:{ALERTMANAGER_PORT}"]
    source, target = alertmanager["volumes"][0].removesuffix(":ro").split(":")
    assert target == "/etc/alertmanager/alertmanager.yml"
    assert yaml.safe_load((ROOT / source).read_text()) == alertmanager_config()
    env = COMPOSE["alerting"]["environment"]
    assert env["ALERTING_ALERTMANAGER_URL"] == f"http://alertmanager:{ALERTMANAGER_PORT}"
    assert "alertmanager" in yaml.safe_load(env["ALERTING_WEBHOOK_ALLOW"])


def test_kafka_is_the_version_make_run_fetches():
    pom = (ROOT / "deploy" / "local" / "kafka" / "pom.xml").read_text()
    version = pom.split("<kafka.version>")[1].split("</kafka.version>")[0]
    assert COMPOSE["kafka"]["image"] == f"apache/kafka:{version}"
