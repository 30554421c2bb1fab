"""Group commit: concurrent callers' small writes coalesced into one transaction per round.

A commit waits for a WAL flush (a few milliseconds on ordinary disks), so one transaction per request
caps a service at a few hundred requests per second. Here the first caller starts a round; everything
that arrives while a round runs goes into the next one, so batching adapts to the load without a
fixed delay.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")


class Coalescer(Generic[T, R]):
    """Calls `flush(items)` with every item submitted while the previous flush ran.

    Guarantees: `submit(item)` returns flush's result for that item only after the flush (and so its
    transaction) completed; if the flush raises, every caller in that round gets the exception.
    """

    def __init__(self, flush: Callable[[Sequence[T]], Awaitable[Sequence[R]]], max_items: int = 5000) -> None:
        self._flush, self._max_items = flush, max_items
        self._pending: list[tuple[T, asyncio.Future[R]]] = []
        self._running: asyncio.Task[None] | None = None

    async def submit(self, item: T) -> R:
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._pending.append((item, future))
        if self._running is None or self._running.done():
            self._running = asyncio.create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        while self._pending:
            batch, self._pending = self._pending[: self._max_items], self._pending[self._max_items :]
            try:
                results = await self._flush([item for item, _ in batch])
            except Exception as exc:  # every caller of this round learns of the failure
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            for (_, future), result in zip(batch, results, strict=True):
                if not future.done():
                    future.set_result(result)
