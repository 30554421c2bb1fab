"""Turning Kafka record values into typed envelopes, or a precise reason why not."""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ValidationError

from shared.contracts.envelope import Envelope
from shared.contracts.registry import TopicSpec

MAX_MESSAGE_BYTES = 1_000_000


class InvalidMessage(Exception):
    """A record that can never be processed as it is (poison message): it belongs in the DLQ."""


def decode(spec: TopicSpec, value: bytes | None) -> Envelope[BaseModel]:
    """Parse and validate one record of `spec`'s topic; raise InvalidMessage with the reason."""
    if value is None:
        raise InvalidMessage("empty record value (tombstone)")
    if len(value) > MAX_MESSAGE_BYTES:
        raise InvalidMessage(f"record of {len(value)} bytes exceeds {MAX_MESSAGE_BYTES}")
    try:
        raw: Any = json.loads(value)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidMessage(f"not JSON: {exc}") from exc
    if not isinstance(raw, dict):
        raise InvalidMessage("envelope must be a JSON object")
    event_type, version = raw.get("type"), raw.get("version", 1)
    if not isinstance(event_type, str) or not isinstance(version, int) or isinstance(version, bool):
        raise InvalidMessage("envelope needs a string `type` and an integer `version`")
    model = spec.model_for(event_type, version)
    if model is None:
        raise InvalidMessage(f"unknown event {event_type!r} version {version} on {spec.name}")
    try:
        return Envelope[model].model_validate(raw)  # type: ignore[valid-type]
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise InvalidMessage(f"{exc.error_count()} invalid field(s); {where}: {first['msg']}") from exc
