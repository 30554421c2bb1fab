"""A batch body turned into publishable feedback records — in a helper process when there is one.

Validating, masking, hashing and serializing are the larger part of ingest's CPU per batched record (more than
what the event loop does for it: claiming, publishing, answering). They depend on nothing but the body, so on
a machine with a second core they run in a helper process while the event loop claims, publishes and answers
earlier batches. What comes back is plain data, column by column (a Lot: the Kafka values already built under
proposed ids, and rejections), so the event loop's work per record stays small; single records stay in-process
(a round trip to the helper costs more than their work).
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from typing import Any

from fastapi.exceptions import RequestValidationError
from pydantic import Field, TypeAdapter, ValidationError

from services.ingest.direct_routes import NUL_ESCAPE, nul_errors, parse_raw, refuse_nul
from services.ingest.encode import Lot, feedback_lot
from services.ingest.mask import Masking
from services.ingest.parse import PlainFeedback, plain_records
from services.ingest.schemas import FeedbackBatchIn, FeedbackIn, Strict
from shared.errors import field_path
from shared.gctuning import tune_gc

OFFLOAD_MIN_BYTES = 64 * 1024
"""Smaller batch bodies are prepared in-process."""


class _AllValid(Strict):
    records: list[FeedbackIn] = Field(min_length=1, max_length=1000)


_ALL_VALID = TypeAdapter(_AllValid)
_BATCH = TypeAdapter(FeedbackBatchIn)
_FEEDBACK = TypeAdapter(FeedbackIn)

Prepared = tuple[Lot, list[int], list[dict[str, Any]]]
"""The valid records as a Lot, their indices in the body, and rejections (index, external_id, status,
errors)."""


def parse_batch(
    raw: bytes, json_body: bool
) -> tuple[list[tuple[int, FeedbackIn | PlainFeedback]], list[dict[str, Any]]]:
    """Valid records with their index, and a rejection (with field errors) for each invalid one.

    The common case, every record plainly valid, is one msgspec pass over the raw body (see
    services.ingest.parse); then one pydantic pass; otherwise the envelope is validated
    (RequestValidationError, a 422, if it is wrong) and then each record on its own to find out which.
    """
    if json_body:
        plain = plain_records(raw)
        if plain is not None:
            return list(enumerate(plain)), []
    records: list[Any]
    valid: list[tuple[int, FeedbackIn | PlainFeedback]]
    try:
        valid = list(enumerate(parse_raw(raw, json_body, _ALL_VALID).records))
        if NUL_ESCAPE not in raw:
            return valid, []
        records = [item for _, item in valid]
    except RequestValidationError:
        records = parse_raw(raw, json_body, _BATCH).records
    valid, rejected = [], []
    for index, record in enumerate(records):
        try:
            item = record if isinstance(record, FeedbackIn) else FeedbackIn.model_validate(record)
        except ValidationError as exc:
            errors = [{"field": field_path(tuple(e["loc"])), "message": e["msg"]} for e in exc.errors()]
            rejected.append(_rejection(index, record, errors))
            continue
        nul = nul_errors(item, ())
        if nul:
            errors = [{"field": field_path(e["loc"]), "message": e["msg"]} for e in nul]
            rejected.append(_rejection(index, record, errors))
        else:
            valid.append((index, item))
    return valid, rejected


def prepare_batch(client: str, raw: bytes, json_body: bool, masking: Masking) -> Prepared:
    """parse_batch, then the valid records' Lot. Raises RequestValidationError for a bad envelope."""
    valid, rejected = parse_batch(raw, json_body)
    lot = feedback_lot(client, [item for _, item in valid], masking)
    return lot, [index for index, _ in valid], rejected


def prepare_single(client: str, raw: bytes, json_body: bool, masking: Masking) -> Lot:
    """One feedback body's Lot. Raises RequestValidationError (400 or 422) as FastAPI would."""
    item = parse_raw(raw, json_body, _FEEDBACK)
    if NUL_ESCAPE in raw:
        refuse_nul(item)
    return feedback_lot(client, [item], masking)


def _prepare_remotely(client: str, raw: bytes, json_body: bool, masking: Masking) -> Any:
    """prepare_batch in the helper: a bad envelope comes back as its errors (plain data)."""
    try:
        return prepare_batch(client, raw, json_body, masking)
    except RequestValidationError as exc:
        return exc.errors()


def _warm_up() -> int:
    prepare_batch(
        "warm-up",
        b'{"records":[{"external_id":"w","channel":"web","customer_id":"c","csat":3,'
        b'"occurred_at":"2026-01-01T00:00:00+00:00"}]}',
        True,
        Masking(frozenset(), b"warm-up"),
    )
    tune_gc()  # as the service does: a batch allocates many young objects, few of them garbage
    return os.getpid()


def _rejection(index: int, record: Any, errors: list[dict[str, str]]) -> dict[str, Any]:
    if isinstance(record, FeedbackIn):
        external_id: Any = record.external_id
    else:
        external_id = record.get("external_id") if isinstance(record, dict) else None
    return {
        "index": index,
        "external_id": external_id if isinstance(external_id, str) else None,
        "status": "rejected",
        "feedback_id": None,
        "errors": errors,
    }


class Preparer:
    """Prepares batch bodies, in `workers` helper processes (0: always in-process).

    The helpers start with the first large body (meanwhile, and for small bodies, work is done
    in-process), so a service that never receives large batches never starts them; `run` is the
    service-lifetime task that shuts them down. A broken pool (a helper killed) is replaced and the
    batch it held is prepared in-process.
    """

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self._pool: ProcessPoolExecutor | None = None
        self._starting: asyncio.Task[None] | None = None

    async def run(self, _runtime: object = None) -> None:
        try:
            await asyncio.Event().wait()
        finally:
            if self._starting is not None:
                self._starting.cancel()
                await asyncio.gather(self._starting, return_exceptions=True)
            await self._close(self._pool)

    async def _start(self) -> None:
        # spawn: a fresh interpreter, not a fork of a process holding sockets and an event loop.
        pool = ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("spawn"))
        loop = asyncio.get_running_loop()
        try:
            await asyncio.gather(*(loop.run_in_executor(pool, _warm_up) for _ in range(self.workers)))
        except BaseException:
            await self._close(pool)
            raise
        self._pool = pool

    async def _close(self, pool: ProcessPoolExecutor | None) -> None:
        if pool is not None:
            if self._pool is pool:
                self._pool = None
            await asyncio.to_thread(pool.shutdown, wait=True, cancel_futures=True)

    async def prepare(self, client: str, raw: bytes, json_body: bool, masking: Masking) -> Prepared:
        """prepare_batch's result; RequestValidationError for a bad envelope."""
        pool = self._pool
        if pool is None or len(raw) < OFFLOAD_MIN_BYTES:
            if self.workers and len(raw) >= OFFLOAD_MIN_BYTES and self._starting is None:
                self._starting = asyncio.create_task(self._start())
            return prepare_batch(client, raw, json_body, masking)
        try:
            outcome = await asyncio.get_running_loop().run_in_executor(
                pool, _prepare_remotely, client, raw, json_body, masking
            )
        except (OSError, RuntimeError):  # BrokenProcessPool is a RuntimeError
            await self._close(pool)
            self._starting = None  # the next large body starts a new pool
            return prepare_batch(client, raw, json_body, masking)
        if isinstance(outcome, list):
            raise RequestValidationError(outcome)
        prepared: Prepared = outcome
        return prepared
