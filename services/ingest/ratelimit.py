"""Per-client token buckets (in process; each replica limits its own share)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class TokenBuckets:
    rate_per_s: float
    burst: int
    clock: Callable[[], float] = time.monotonic
    _buckets: dict[str, tuple[float, float]] = field(default_factory=dict)

    def take(self, client: str, cost: float = 1.0) -> float:
        """Spend `cost` tokens of `client`'s bucket: 0.0 if allowed, else seconds until it would be."""
        if self.rate_per_s <= 0:
            return 0.0
        now = self.clock()
        tokens, last = self._buckets.get(client, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - last) * self.rate_per_s)
        if tokens >= cost:
            self._buckets[client] = (tokens - cost, now)
            return 0.0
        self._buckets[client] = (tokens, now)
        return (cost - tokens) / self.rate_per_s
