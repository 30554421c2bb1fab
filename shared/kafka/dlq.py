"""Dead-letter records and the limit that halts a consumer when invalid messages look systematic."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime

from aiokafka.structs import ConsumerRecord


class DlqLimitExceeded(Exception):
    """Too many invalid messages: most likely a bad deploy or producer, so stop instead of dead-lettering."""


@dataclass
class DlqLimit:
    """Halts when, among the last `window` messages, more than `max_invalid_ratio` were invalid,
    or when more than `max_consecutive_count` invalid messages arrive in a row."""

    max_invalid_ratio: float = 0.5
    max_consecutive_count: int = 100
    window: int = 1000
    min_sample: int = 200
    _recent: deque[bool] = field(default_factory=deque, repr=False)
    _consecutive: int = 0

    def record(self, *, invalid: bool) -> None:
        """Count one message; raise DlqLimitExceeded if dead-lettering it would break the limit."""
        self._recent.append(invalid)
        if len(self._recent) > self.window:
            self._recent.popleft()
        self._consecutive = self._consecutive + 1 if invalid else 0
        if self._consecutive > self.max_consecutive_count:
            raise DlqLimitExceeded(f"{self._consecutive} consecutive invalid messages")
        invalid_count = sum(self._recent)
        if (
            len(self._recent) >= self.min_sample
            and invalid_count / len(self._recent) > self.max_invalid_ratio
        ):
            raise DlqLimitExceeded(f"{invalid_count} of the last {len(self._recent)} messages were invalid")


def dlq_headers(record: ConsumerRecord, error: str) -> list[tuple[str, bytes]]:
    """The original headers plus where the record came from and why it was dead-lettered."""
    original = list(record.headers or ())
    return [
        *original,
        ("dlq.original.topic", record.topic.encode()),
        ("dlq.original.partition", str(record.partition).encode()),
        ("dlq.original.offset", str(record.offset).encode()),
        ("dlq.original.timestamp", str(record.timestamp).encode()),
        ("dlq.error", error[:2000].encode()),
        ("dlq.failed_at", datetime.now(UTC).isoformat().encode()),
    ]
