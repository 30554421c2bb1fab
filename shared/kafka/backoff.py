"""Capped exponential backoff whose sleeps end early when the consumer is asked to stop."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass


@dataclass
class Backoff:
    """Delays of `first`, doubling up to `cap` seconds."""

    first: float = 0.2
    cap: float = 30.0
    _next: float = 0.0

    def delay(self) -> float:
        """The delay before the next retry; each call doubles the one after."""
        current = self._next or self.first
        self._next = min(current * 2, self.cap)
        return current


async def pause(stopping: asyncio.Event, seconds: float) -> bool:
    """Sleep `seconds`, waking early when `stopping` is set; True if it is (the caller should give up)."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stopping.wait(), seconds)
    return stopping.is_set()
