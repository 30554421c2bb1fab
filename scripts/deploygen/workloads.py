"""Per-service Kubernetes objects: Deployment, Service, migration Job, scaling, PDB, policies, monitors."""

from __future__ import annotations

from typing import Any

from scripts.deploygen.catalog import (
    BY_NAME,
    CONFIG_DIR,
    HPA_CPU,
    INGRESS_NAMESPACE,
    KAFKA_BOOTSTRAP,
    KAFKA_CLUSTER,
    KAFKA_NAMESPACE,
    LAG_THRESHOLD,
    MONITORING_NAMESPACE,
    PART_OF,
    SERVICES,
    TERMINATION_GRACE_S,
    UVICORN_GRACE_S,
    ServiceSpec,
)

Obj = dict[str, Any]
RUN_AS = 10001


def labels(svc: ServiceSpec, component: str = "server") -> dict[str, str]:
    return {
        "app.kubernetes.io/name": svc.name,
        "app.kubernetes.io/part-of": PART_OF,
        "app.kubernetes.io/component": component,
    }


def selector(svc: ServiceSpec, component: str = "server") -> dict[str, str]:
    return {"app.kubernetes.io/name": svc.name, "app.kubernetes.io/component": component}


def meta(name: str, svc: ServiceSpec, component: str = "server", **extra: Any) -> Obj:
    return {"name": name, "labels": labels(svc, component), **extra}


POD_SECURITY = {
    "runAsNonRoot": True,
    "runAsUser": RUN_AS,
    "runAsGroup": RUN_AS,
    "fsGroup": RUN_AS,
    "seccompProfile": {"type": "RuntimeDefault"},
}
CONTAINER_SECURITY = {
    "allowPrivilegeEscalation": False,
    "readOnlyRootFilesystem": True,
    "runAsNonRoot": True,
    "capabilities": {"drop": ["ALL"]},
}


def _env_from(svc: ServiceSpec) -> list[Obj]:
    return [
        {"configMapRef": {"name": "feedback-env"}},
        {"secretRef": {"name": "feedback-database"}},
        {"secretRef": {"name": f"{svc.name}-secrets"}},
    ]


def _env(svc: ServiceSpec) -> list[Obj]:
    env = [{"name": key, "value": value} for key, value in svc.env.items()]
    env += [{"name": f.env, "value": f"{CONFIG_DIR}/{f.name}"} for f in svc.config_files]
    return env


def _volumes(svc: ServiceSpec) -> tuple[list[Obj], list[Obj]]:
    volumes: list[Obj] = [{"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}}]
    mounts: list[Obj] = [{"name": "tmp", "mountPath": "/tmp"}]  # noqa: S108 - the container's own tmpfs
    if svc.config_files:
        volumes.append({"name": "config", "configMap": {"name": f"{svc.name}-config"}})
        mounts.append({"name": "config", "mountPath": CONFIG_DIR, "readOnly": True})
    return volumes, mounts


def _container(svc: ServiceSpec, command: list[str]) -> Obj:
    volumes_mounts = _volumes(svc)[1]
    container: Obj = {
        "name": svc.name,
        "image": svc.image,
        "imagePullPolicy": "IfNotPresent",
        "command": command,
        "envFrom": _env_from(svc),
        "securityContext": CONTAINER_SECURITY,
        "volumeMounts": volumes_mounts,
    }
    if env := _env(svc):
        container["env"] = env
    return container


def deployment(svc: ServiceSpec) -> Obj:
    command = [
        "python",
        "-m",
        "uvicorn",
        f"services.{svc.name}.app:create_app",
        "--factory",
        "--host",
        "0.0.0.0",
        "--port",
        str(svc.port),
        "--timeout-graceful-shutdown",
        str(UVICORN_GRACE_S),
        "--no-server-header",
    ]
    container = _container(svc, command)
    container["ports"] = [{"name": "http", "containerPort": svc.port, "protocol": "TCP"}]
    container["resources"] = {
        "requests": {"cpu": svc.resources.cpu_request, "memory": svc.resources.memory_request},
        "limits": {"cpu": svc.resources.cpu_limit, "memory": svc.resources.memory_limit},
    }
    probe = {"port": "http"}
    # Startup covers loading the model; liveness only asks whether the process serves at all, readiness
    # whether broker and database are reachable (a 503 takes the pod out of the Service, not restarts it).
    alive, ready = {"path": "/healthz", **probe}, {"path": "/readyz", **probe}
    container["startupProbe"] = {"httpGet": alive, "periodSeconds": 2, "failureThreshold": 60}
    container["livenessProbe"] = {"httpGet": alive, "periodSeconds": 10, "timeoutSeconds": 3}
    container["readinessProbe"] = {"httpGet": ready, "periodSeconds": 5, "timeoutSeconds": 3}
    volumes = _volumes(svc)[0]
    spec: Obj = {
        "revisionHistoryLimit": 5,
        "selector": {"matchLabels": selector(svc)},
        # A single-consumer service without a standby is replaced, not surged: two pods would split its
        # partitions mid-window. With leader election, a rolling update leaves the leader to the standby.
        "strategy": {"type": "Recreate"}
        if svc.replica_cap == 1 and not svc.standby_replicas
        else {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
        "template": {
            "metadata": {"labels": labels(svc)},
            "spec": {
                "automountServiceAccountToken": False,
                "terminationGracePeriodSeconds": TERMINATION_GRACE_S,
                "securityContext": POD_SECURITY,
                "containers": [container],
                "volumes": volumes,
            },
        },
    }
    if svc.standby_replicas:
        spec["replicas"] = 1 + svc.standby_replicas  # fixed: only the leader works, lag cannot scale it
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta(svc.name, svc), "spec": spec}


def service(svc: ServiceSpec) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": meta(svc.name, svc),
        "spec": {
            "selector": selector(svc),
            "ports": [{"name": "http", "port": svc.port, "targetPort": "http", "protocol": "TCP"}],
        },
    }


def migration_job(svc: ServiceSpec) -> Obj:
    container = _container(svc, ["python", "-m", "shared.db.migrate", svc.name])
    container["resources"] = {
        "requests": {"cpu": "100m", "memory": "128Mi"},
        "limits": {"cpu": "500m", "memory": "256Mi"},
    }
    container.pop("env", None)
    container["volumeMounts"] = container["volumeMounts"][:1]
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": meta(f"{svc.name}-migrate", svc, "migration"),
        "spec": {
            "backoffLimit": 4,
            "ttlSecondsAfterFinished": 3600,
            "template": {
                "metadata": {"labels": labels(svc, "migration")},
                "spec": {
                    "restartPolicy": "OnFailure",
                    "automountServiceAccountToken": False,
                    "securityContext": POD_SECURITY,
                    "containers": [container],
                    "volumes": _volumes(svc)[0][:1],
                },
            },
        },
    }


def scaler(svc: ServiceSpec) -> Obj | None:
    """HPA on CPU for the HTTP-bound service; KEDA on consumer lag, capped at partitions, for consumers;
    none for a leader-elected service (a fixed leader and standby)."""
    if svc.standby_replicas:
        return None
    if svc.name in HPA_CPU:
        low, high, target = HPA_CPU[svc.name]
        return {
            "apiVersion": "autoscaling/v2",
            "kind": "HorizontalPodAutoscaler",
            "metadata": meta(svc.name, svc),
            "spec": {
                "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": svc.name},
                "minReplicas": low,
                "maxReplicas": high,
                "metrics": [
                    {
                        "type": "Resource",
                        "resource": {
                            "name": "cpu",
                            "target": {"type": "Utilization", "averageUtilization": target},
                        },
                    }
                ],
            },
        }
    triggers = [
        {
            "type": "kafka",
            "metadata": {
                "bootstrapServers": KAFKA_BOOTSTRAP,
                "consumerGroup": svc.consumer_group,
                "topic": topic.name,
                "lagThreshold": str(LAG_THRESHOLD),
                "offsetResetPolicy": "earliest",
                "allowIdleConsumers": "false",
            },
        }
        for topic in svc.consumes
    ]
    return {
        "apiVersion": "keda.sh/v1alpha1",
        "kind": "ScaledObject",
        "metadata": meta(svc.name, svc),
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": svc.name},
            "minReplicaCount": 1,
            "maxReplicaCount": svc.max_replicas,
            "pollingInterval": 15,
            "cooldownPeriod": 300,
            "triggers": triggers,
        },
    }


def disruption_budget(svc: ServiceSpec) -> Obj:
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": meta(svc.name, svc),
        # One pod at a time: a leader-elected service (leader + standby) keeps one through a drain.
        "spec": {"maxUnavailable": 1, "selector": {"matchLabels": selector(svc)}},
    }


def service_monitor(svc: ServiceSpec) -> Obj:
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "ServiceMonitor",
        "metadata": meta(svc.name, svc),
        "spec": {
            "selector": {"matchLabels": selector(svc)},
            "jobLabel": "app.kubernetes.io/name",
            "endpoints": [{"port": "http", "path": "/metrics", "interval": "15s"}],
        },
    }


STRIMZI = {"strimzi.io/cluster": KAFKA_CLUSTER}


def _tcp(port: int) -> list[Obj]:
    return [{"protocol": "TCP", "port": port}]


def _match(match_labels: dict[str, str]) -> Obj:
    return {"matchLabels": match_labels}


def _namespace(name: str) -> Obj:
    return {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": name}}}


def network_policy(svc: ServiceSpec) -> Obj:
    """In: the ingress controller (API) and Prometheus (metrics). Out: DNS, Kafka, PostgreSQL, channels."""
    egress: list[Obj] = [
        {
            "to": [{**_namespace(KAFKA_NAMESPACE), "podSelector": _match(STRIMZI)}],
            "ports": [{"protocol": "TCP", "port": 9092}],
        },
        {"to": [{"ipBlock": {"cidr": "0.0.0.0/0"}}], "ports": [{"protocol": "TCP", "port": 5432}]},
    ]
    for callee in svc.calls:
        egress.append(
            {"to": [{"podSelector": _match(selector(BY_NAME[callee]))}], "ports": _tcp(BY_NAME[callee].port)}
        )
    if svc.egress_ports:
        egress.append(
            {
                "to": [{"ipBlock": {"cidr": "0.0.0.0/0"}}],
                "ports": [{"protocol": "TCP", "port": port} for port in svc.egress_ports],
            }
        )
    http = _tcp(svc.port)
    ingress: list[Obj] = [
        {"from": [_namespace(INGRESS_NAMESPACE), _namespace(MONITORING_NAMESPACE)], "ports": http}
    ]
    callers = [other for other in SERVICES if svc.name in other.calls]
    if callers:
        ingress.append({"from": [{"podSelector": _match(selector(c))} for c in callers], "ports": http})
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": meta(svc.name, svc),
        "spec": {
            "podSelector": {"matchLabels": {"app.kubernetes.io/name": svc.name}},
            "policyTypes": ["Ingress", "Egress"],
            "ingress": ingress,
            "egress": egress,
        },
    }


def namespace_policies() -> list[Obj]:
    """Deny everything not allowed by a service's own policy; every pod may resolve names."""
    part_of = {"app.kubernetes.io/part-of": PART_OF}
    return [
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": {"name": "default-deny", "labels": part_of},
            "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]},
        },
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": {"name": "allow-dns", "labels": part_of},
            "spec": {
                "podSelector": {},
                "policyTypes": ["Egress"],
                "egress": [
                    {
                        "to": [{**_namespace("kube-system"), "podSelector": _match({"k8s-app": "kube-dns"})}],
                        "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}],
                    }
                ],
            },
        },
    ]
