"""Strimzi KafkaTopic objects from the topics the code itself creates (`shared.kafka.admin.new_topics`
over the shared registry): every topic and its dead-letter topic, with the same partitions and config."""

from __future__ import annotations

from typing import Any

from scripts.deploygen.catalog import KAFKA_CLUSTER, PART_OF, topic_specs
from shared.kafka.admin import new_topics

REPLICAS = 3
MIN_INSYNC = 2
"""Production defaults; the dev overlay patches both down for a one-broker cluster."""


def kafka_topics() -> list[dict[str, Any]]:
    objects = []
    for topic in new_topics(topic_specs()):
        role = "dlq" if topic.name.endswith(".dlq") else "events"
        config: dict[str, Any] = {"cleanup.policy": "delete", "min.insync.replicas": MIN_INSYNC}
        for key, value in topic.topic_configs.items():
            config[key] = int(value) if value.isdigit() else value
        objects.append(
            {
                "apiVersion": "kafka.strimzi.io/v1beta2",
                "kind": "KafkaTopic",
                "metadata": {
                    "name": topic.name.replace(".", "-"),
                    "labels": {
                        "strimzi.io/cluster": KAFKA_CLUSTER,
                        "app.kubernetes.io/part-of": PART_OF,
                        "feedback.example/topic-role": role,
                    },
                },
                "spec": {
                    "topicName": topic.name,
                    "partitions": topic.num_partitions,
                    "replicas": REPLICAS,
                    "config": config,
                },
            }
        )
    return objects
