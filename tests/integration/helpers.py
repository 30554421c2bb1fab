"""Test data from plain functions: envelopes built from the contract examples with fresh ids."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

from tests.support.waiting import eventually, eventually_sync

__all__ = ["EXAMPLES", "eventually", "eventually_sync", "feedback_received", "to_bytes"]

EXAMPLES = Path(__file__).resolve().parents[2] / "shared" / "contracts" / "examples"


def feedback_received(customer_id: str = "C1", **payload: Any) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(
        (EXAMPLES / "feedback.received.v1" / "feedback.received.json").read_text()
    )
    doc["event_id"] = str(uuid.uuid4())
    doc["key"] = customer_id
    doc["payload"].update(feedback_id=str(uuid.uuid4()), customer_id=customer_id, **payload)
    return doc


def to_bytes(doc: dict[str, Any]) -> bytes:
    return json.dumps(doc, ensure_ascii=False).encode()
