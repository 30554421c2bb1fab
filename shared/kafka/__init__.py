"""Kafka runtime on aiokafka: an acknowledged producer, an at-least-once consumer loop with a DLQ."""

from shared.kafka.consumer import ConsumedEvent, EventConsumer, Handler
from shared.kafka.dlq import DlqLimit, DlqLimitExceeded
from shared.kafka.producer import BrokerUnavailable, EventProducer

__all__ = [
    "BrokerUnavailable",
    "ConsumedEvent",
    "DlqLimit",
    "DlqLimitExceeded",
    "EventConsumer",
    "EventProducer",
    "Handler",
]
