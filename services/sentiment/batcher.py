"""Dynamic micro-batching: texts from concurrent callers are gathered for up to `max_wait_s` or until
`max_batch`, grouped by token length (little padding) into model batches of at most `max_tokens` padded
tokens, and run on one inference thread off the event loop."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial

import numpy as np

from services.sentiment.backends import Backend, Tokens, pad
from services.sentiment.metrics import BATCH_SIZE, INFERENCE_SECONDS, TEXTS


@dataclass(frozen=True)
class Scored:
    probabilities: np.ndarray
    truncated: bool


@dataclass
class _Pending:
    text: str
    future: asyncio.Future[Scored]


def chunks(rows: Sequence[Tokens], max_batch: int, max_tokens: int) -> list[list[int]]:
    """Indexes of `rows` sorted by length and cut into batches of at most `max_batch` rows and
    `max_tokens` padded tokens (rows x longest): short texts go many to a batch, long ones few. Small
    batches of similar length keep the activations in cache and waste no work on padding, which fixed
    batches of 32 do (`make bench-sentiment` measures the serving path)."""
    order = sorted(range(len(rows)), key=lambda i: len(rows[i].ids))
    out: list[list[int]] = []
    current: list[int] = []
    for index in order:
        width = len(rows[index].ids)  # the longest so far, since the order is ascending
        if current and (len(current) == max_batch or (len(current) + 1) * width > max_tokens):
            out.append(current)
            current = []
        current.append(index)
    if current:
        out.append(current)
    return out


def infer(backend: Backend, rows: Sequence[Tokens]) -> list[Scored]:
    """One model batch (rows of similar length), with the inference metrics."""
    began = time.perf_counter()
    encoded = pad(rows, backend.pad_id)
    probs = backend.probabilities(encoded)
    INFERENCE_SECONDS.labels(backend.name).observe(time.perf_counter() - began)
    BATCH_SIZE.observe(len(rows))
    TEXTS.inc(len(rows))
    return [Scored(probs[row], encoded.truncated[row]) for row in range(len(rows))]


def run_batch(backend: Backend, texts: Sequence[str], max_batch: int, max_tokens: int = 1024) -> list[Scored]:
    """Synchronous, length-bucketed inference of any number of texts (see `chunks`)."""
    rows = backend.tokenize(texts)
    out: list[Scored | None] = [None] * len(texts)
    for chunk in chunks(rows, max_batch, max_tokens):
        for index, scored in zip(chunk, infer(backend, [rows[i] for i in chunk]), strict=True):
            out[index] = scored
    return [s for s in out if s is not None]


INTAKE_BATCHES = 32
"""How many model batches of waiting texts one pass takes in: the more it sorts by length at once, the less
padding each model batch carries (a consumer's polls arrive together). Urgent requests are still served
between model batches, so a large intake does not delay them."""


class MicroBatcher:
    """Two lanes: `urgent` callers (a synchronous API request) go ahead of the bulk lane (the consumer's
    polls) at the next model batch, so a request waits for at most one model batch of a backlog, not for
    the backlog."""

    def __init__(
        self, backend: Backend, *, max_batch: int = 64, max_tokens: int = 1024, max_wait_s: float = 0.005
    ) -> None:
        self.backend = backend
        self.max_batch = max_batch
        self.max_tokens = max_tokens
        self.max_wait_s = max_wait_s
        self._queue: asyncio.Queue[_Pending] = asyncio.Queue()
        self._urgent: asyncio.Queue[_Pending] = asyncio.Queue()
        self._arrived = asyncio.Event()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="inference")
        self._task: asyncio.Task[None] | None = None

    async def score(self, texts: Sequence[str], *, urgent: bool = False) -> list[Scored]:
        """Probabilities for each text, in order; concurrent calls share batches."""
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run())
        loop = asyncio.get_running_loop()
        pending = [_Pending(text, loop.create_future()) for text in texts]
        queue = self._urgent if urgent else self._queue
        for item in pending:
            queue.put_nowait(item)
        self._arrived.set()
        return list(await asyncio.gather(*(p.future for p in pending)))

    def _take(self, queue: asyncio.Queue[_Pending], batch: list[_Pending]) -> None:
        while len(batch) < self.max_batch * INTAKE_BATCHES and not queue.empty():
            batch.append(queue.get_nowait())

    async def _gather(self) -> tuple[list[_Pending], bool]:
        """What to score next and whether it is urgent work: whatever already waits (a consumer's whole
        poll), then a brief wait for stragglers."""
        while self._urgent.empty() and self._queue.empty():
            self._arrived.clear()
            await self._arrived.wait()
        urgent = not self._urgent.empty()
        queue = self._urgent if urgent else self._queue
        batch: list[_Pending] = []
        self._take(queue, batch)
        deadline = time.monotonic() + self.max_wait_s
        while len(batch) < self.max_batch and (left := deadline - time.monotonic()) > 0:
            try:
                batch.append(await asyncio.wait_for(queue.get(), left))
            except TimeoutError:
                break
            self._take(queue, batch)
        return batch, urgent

    async def _score(self, batch: list[_Pending], urgent: bool) -> None:
        loop = asyncio.get_running_loop()
        try:
            rows = await loop.run_in_executor(self._executor, self.backend.tokenize, [p.text for p in batch])
            for chunk in chunks(rows, self.max_batch, self.max_tokens):
                if not urgent and not self._urgent.empty():
                    ahead: list[_Pending] = []
                    self._take(self._urgent, ahead)
                    await self._score(ahead, True)
                results = await loop.run_in_executor(
                    self._executor, partial(infer, self.backend), [rows[i] for i in chunk]
                )
                for index, result in zip(chunk, results, strict=True):
                    if not batch[index].future.done():
                        batch[index].future.set_result(result)
        except Exception as exc:
            for p in batch:
                if not p.future.done():
                    p.future.set_exception(exc)

    async def _run(self) -> None:
        while True:
            batch, urgent = await self._gather()
            await self._score(batch, urgent)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        self._executor.shutdown(wait=False, cancel_futures=True)
