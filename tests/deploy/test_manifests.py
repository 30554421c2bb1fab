"""The kustomize overlays render, every object validates (Kubernetes schema, or the CRD's required
fields), and what they say agrees with the code: topics, partitions, consumer groups, probes, drain time,
config files and the variables the services read."""

from __future__ import annotations

import base64
import importlib.metadata
import json

import jsonschema
import kubernetes_validate
import pytest
import yaml

from scripts.deploygen.__main__ import PLACEHOLDER, stale
from scripts.deploygen.catalog import CONFIG_DIR, CONSUMER_DRAIN_S, ROOT, SERVICES
from services.alerting.config import DEV_WEBHOOK_SECRET, AlertingSettings
from services.alerting.delivery.channels import address, guard
from services.alerting.rules import DEFAULT_RULES, load_rules
from services.ingest.config import DEV_PSEUDONYM_KEY
from shared.contracts.registry import TOPICS, consumed_by
from shared.security import hash_key
from shared.settings import DEV_INGEST_KEY, DEV_OPERATOR_KEY
from tests.deploy.conftest import OVERLAYS, Rendered, of_kind
from tests.deploy.crd_schemas import CRD_SCHEMAS
from tests.deploy.settings_env import SETTINGS, service_env

K8S_VERSION = "1.32.0"
NAMES = [svc.name for svc in SERVICES]


def test_generated_files_match_their_sources():
    assert stale() == [], "run `make manifests`"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_rendered_object_validates(rendered: Rendered, overlay: str):
    objects = rendered[overlay]
    builtin = crds = 0
    for obj in objects:
        schema = CRD_SCHEMAS.get((obj["apiVersion"], obj["kind"]))
        if schema is not None:
            jsonschema.validate(obj, schema)
            crds += 1
        else:
            kubernetes_validate.validate(obj, K8S_VERSION, strict=True)
            builtin += 1
    topics = 2 * len(TOPICS)
    # per service: Deployment, Service, Job, ConfigMap-or-not, scaler, PDB, NetworkPolicy, ServiceMonitor
    # topics, monitors, KEDA for the lag-scaled consumers (not ingest, not the leader-elected alerting),
    # one PrometheusRule
    assert crds == topics + len(SERVICES) + len(SERVICES) - 2 + 1
    assert builtin >= 6 * len(SERVICES)


def test_a_broken_object_is_refused():
    """The validators used above do reject what an API server would."""
    deployment = yaml.safe_load((ROOT / "deploy/k8s/base/ingest.yaml").read_text().split("---")[0])
    deployment["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"] = "http"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, K8S_VERSION, strict=True)
    topic = {
        "apiVersion": "kafka.strimzi.io/v1beta2",
        "kind": "KafkaTopic",
        "metadata": {"name": "t"},
        "spec": {},
    }
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(topic, CRD_SCHEMAS[("kafka.strimzi.io/v1beta2", "KafkaTopic")])


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_deployments_are_probed_non_root_read_only_and_outlast_the_consumer_drain(
    rendered: Rendered, overlay: str
):
    deployments = of_kind(rendered[overlay], "Deployment")
    assert sorted(deployments) == sorted(NAMES)
    for name, deployment in deployments.items():
        pod = deployment["spec"]["template"]["spec"]
        (container,) = pod["containers"]
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz", name
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz", name
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["runAsUser"] > 0
        assert container["securityContext"]["readOnlyRootFilesystem"] is True
        assert container["securityContext"]["allowPrivilegeEscalation"] is False
        assert {"cpu", "memory"} <= set(container["resources"]["requests"]) & set(
            container["resources"]["limits"]
        )
        assert pod["terminationGracePeriodSeconds"] >= CONSUMER_DRAIN_S + 5, name
        if name == "alerting":  # a leader and a standby (shared/leader.py), not scaled
            assert deployment["spec"]["replicas"] == 2
            assert deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
        else:
            assert "replicas" not in deployment["spec"], f"{name}: replicas belong to its autoscaler"
        port = next(svc.port for svc in SERVICES if svc.name == name)
        assert container["ports"] == [{"name": "http", "containerPort": port, "protocol": "TCP"}]
        assert container["command"][container["command"].index("--port") + 1] == str(port)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_kafka_topics_are_the_registry_with_its_dead_letter_topics(rendered: Rendered, overlay: str):
    topics = {
        obj["spec"]["topicName"]: obj["spec"] for obj in of_kind(rendered[overlay], "KafkaTopic").values()
    }
    assert set(topics) == {spec.name for spec in TOPICS.values()} | {spec.dlq for spec in TOPICS.values()}
    for spec in TOPICS.values():
        assert topics[spec.name]["partitions"] == spec.partitions
        assert topics[spec.name]["config"]["retention.ms"] == spec.retention_ms
        assert topics[spec.dlq]["partitions"] == spec.dlq_partitions
        assert topics[spec.dlq]["config"]["retention.ms"] == spec.dlq_retention_ms
    for spec in topics.values():
        assert spec["config"]["min.insync.replicas"] <= spec["replicas"]
        assert spec["replicas"] == (1 if overlay == "dev" else 3)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_consumers_scale_on_lag_never_beyond_their_partitions_and_ingest_on_cpu(
    rendered: Rendered, overlay: str
):
    scaled = of_kind(rendered[overlay], "ScaledObject")
    # alerting's windows span partitions (keyed by customer): one elected leader consumes them all, so
    # it has a fixed leader and standby instead of a lag scaler
    assert sorted(scaled) == sorted(name for name in NAMES if consumed_by(name) and name != "alerting")
    for name, obj in scaled.items():
        triggers = obj["spec"]["triggers"]
        assert {t["metadata"]["topic"] for t in triggers} == {spec.name for spec in consumed_by(name)}
        assert {t["metadata"]["consumerGroup"] for t in triggers} == {SETTINGS[name]().consumer_group}  # type: ignore[attr-defined]
        assert all(t["type"] == "kafka" and t["metadata"]["allowIdleConsumers"] == "false" for t in triggers)
        assert obj["spec"]["maxReplicaCount"] <= max(spec.partitions for spec in consumed_by(name))
        assert obj["spec"]["scaleTargetRef"]["name"] == name
    (hpa,) = of_kind(rendered[overlay], "HorizontalPodAutoscaler").values()
    assert hpa["spec"]["scaleTargetRef"]["name"] == "ingest"
    assert hpa["spec"]["metrics"][0]["resource"]["name"] == "cpu"
    assert 1 <= hpa["spec"]["minReplicas"] < hpa["spec"]["maxReplicas"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_config_maps_carry_the_services_real_files(rendered: Rendered, overlay: str):
    config_maps = {
        name.rsplit("-", 1)[0]: obj for name, obj in of_kind(rendered[overlay], "ConfigMap").items()
    }
    deployments = of_kind(rendered[overlay], "Deployment")
    for svc in SERVICES:
        env = {
            e["name"]: e.get("value")
            for e in deployments[svc.name]["spec"]["template"]["spec"]["containers"][0].get("env", [])
        }
        for config in svc.config_files:
            data = config_maps[f"{svc.name}-config"]["data"]
            assert data[config.name] == (ROOT / config.source).read_text()
            assert env[config.env] == f"{CONFIG_DIR}/{config.name}"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_variable_set_is_one_the_service_reads(rendered: Rendered, overlay: str):
    objects = rendered[overlay]
    shared_env = next(o for n, o in of_kind(objects, "ConfigMap").items() if n.startswith("feedback-env"))[
        "data"
    ]
    secrets = {name.rsplit("-", 1)[0]: obj for name, obj in of_kind(objects, "Secret").items()}
    for name, deployment in of_kind(objects, "Deployment").items():
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        names = {e["name"] for e in container.get("env", [])} | set(shared_env)
        refs = [ref["secretRef"]["name"] for ref in container["envFrom"] if "secretRef" in ref]
        assert len(refs) == 2
        for ref in refs:  # dev generates them; prod expects them to exist (templates checked below)
            if overlay == "dev":
                names |= set(secrets[ref.rsplit("-", 1)[0]]["data"])
        assert names <= service_env(name), names - service_env(name)
    assert shared_env["APP_ENV"] == ("local" if overlay == "dev" else "production")


def test_secret_templates_name_every_secret_with_placeholders_only(rendered: Rendered):
    templates = list(yaml.safe_load_all((ROOT / "deploy/k8s/secrets/secrets.template.yaml").read_text()))
    for template in templates:
        kubernetes_validate.validate(template, K8S_VERSION, strict=True)
        assert set(template["stringData"].values()) == {PLACEHOLDER}
        owner = template["metadata"]["name"].removesuffix("-secrets")
        for key in template["stringData"]:
            assert key in (service_env(owner) if owner in NAMES else {"DATABASE_URL"})
    referenced = {
        ref["secretRef"]["name"]
        for d in of_kind(rendered["prod"], "Deployment").values()
        for ref in d["spec"]["template"]["spec"]["containers"][0]["envFrom"]
        if "secretRef" in ref
    }
    assert referenced == {t["metadata"]["name"] for t in templates}
    assert of_kind(rendered["prod"], "Secret") == {}, "production secrets are never part of the manifests"
    dev_values = {
        base64.b64decode(value).decode()
        for secret in of_kind(rendered["dev"], "Secret").values()
        for key, value in secret["data"].items()
        if key != "DATABASE_URL"
    }
    public = {
        DEV_OPERATOR_KEY,
        DEV_PSEUDONYM_KEY,
        DEV_WEBHOOK_SECRET,
        json.dumps({"demo": hash_key(DEV_INGEST_KEY)}),
    }
    assert dev_values == public, "dev holds only the published development keys, refused in production"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_network_policies_deny_by_default_and_open_only_named_paths(rendered: Rendered, overlay: str):
    policies = of_kind(rendered[overlay], "NetworkPolicy")
    assert policies["default-deny"]["spec"] == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
    for svc in SERVICES:
        policy = policies[svc.name]["spec"]
        for rule in policy["ingress"]:
            assert rule["from"], "an ingress rule without sources would admit everyone"
            assert rule["ports"] == [{"protocol": "TCP", "port": svc.port}]
        callers = {
            peer["podSelector"]["matchLabels"]["app.kubernetes.io/name"]
            for rule in policy["ingress"]
            for peer in rule["from"]
            if "podSelector" in peer
        }
        assert callers == {other.name for other in SERVICES if svc.name in other.calls}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_each_service_has_a_disruption_budget_a_monitor_and_a_migration_job(rendered: Rendered, overlay: str):
    objects = rendered[overlay]
    services, monitors = of_kind(objects, "Service"), of_kind(objects, "ServiceMonitor")
    budgets, jobs = of_kind(objects, "PodDisruptionBudget"), of_kind(objects, "Job")
    for name in NAMES:
        assert budgets[name]["spec"]["maxUnavailable"] == 1
        selector = monitors[name]["spec"]["selector"]["matchLabels"]
        assert selector.items() <= services[name]["metadata"]["labels"].items()
        assert monitors[name]["spec"]["endpoints"][0]["port"] == services[name]["spec"]["ports"][0]["name"]
        assert jobs[f"{name}-migrate"]["spec"]["template"]["spec"]["containers"][0]["command"][-1] == name


def test_production_images_are_pinned_to_the_release(rendered: Rendered):
    version = importlib.metadata.version("feedback-platform")
    images = {
        c["image"]
        for kind in ("Deployment", "Job")
        for obj in of_kind(rendered["prod"], kind).values()
        for c in obj["spec"]["template"]["spec"]["containers"]
    }
    assert len(images) == len(SERVICES)
    assert all(image.endswith(f":{version}") for image in images), images


@pytest.mark.parametrize("overlay", OVERLAYS)
async def test_alerting_reaches_the_clusters_alertmanager(rendered: Rendered, overlay: str, monkeypatch):
    """The deployment's own variables, read as the service reads them: L3/L4 escalations have an
    Alertmanager address, and the SSRF guard lets that private address through (by name: it would
    otherwise resolve it, which fails outside a cluster)."""
    deployment = of_kind(rendered[overlay], "Deployment")["alerting"]
    for variable in deployment["spec"]["template"]["spec"]["containers"][0]["env"]:
        if variable["name"].startswith("ALERTING_") and "value" in variable:
            monkeypatch.setenv(variable["name"], variable["value"])
    settings = AlertingSettings()
    url = address("alertmanager", "executives", load_rules(DEFAULT_RULES), settings)
    assert url.startswith("http://alertmanager-operated.monitoring.svc:")
    await guard(url + "/api/v2/alerts", settings.webhook_allow)
