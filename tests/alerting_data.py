"""Scored feedback for alerting tests, from a plain function."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from shared.contracts.feedback import Aspect, FeedbackScored, ModelRef

LABEL_STARS = {"negative": 1, "neutral": 3, "positive": 5}


def scored(at: datetime, label: str = "negative", text: str = "", **fields: Any) -> FeedbackScored:
    values: dict[str, Any] = {
        "feedback_id": uuid.uuid4(),
        "customer_id": "C1",
        "channel": "web",
        "language": "zh",
        "text": text,
        "stars": LABEL_STARS[label],
        "stars_expected": float(LABEL_STARS[label]),
        "label": label,
        "score": {"negative": -0.9, "neutral": 0.0, "positive": 0.9}[label],
        "confidence": 0.9,
        "model": ModelRef(id="test", version="1"),
        "business_line": "retail",
        "occurred_at": at,
    }
    aspects = fields.pop("aspects", [])
    values.update(fields)
    values["aspects"] = [Aspect(name=a, label=label) for a in aspects]
    return FeedbackScored(**values)
