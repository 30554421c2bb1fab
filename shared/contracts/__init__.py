"""Versioned event contracts: the envelope, one payload model per event type, and the topic registry."""

from shared.contracts.codec import InvalidMessage, decode
from shared.contracts.envelope import Contract, Envelope
from shared.contracts.registry import TOPICS, TopicSpec, consumed_by

__all__ = ["TOPICS", "Contract", "Envelope", "InvalidMessage", "TopicSpec", "consumed_by", "decode"]
