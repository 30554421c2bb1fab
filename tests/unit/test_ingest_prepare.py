"""Batch bodies prepared in a helper process come back exactly as in-process preparation makes them,
bad envelopes are still a 422, and a helper that dies costs nothing but a fallback."""

from __future__ import annotations

import json
import os
import re
import signal
import uuid

import pytest
from fastapi.exceptions import RequestValidationError

from services.ingest.batches import OFFLOAD_MIN_BYTES, Prepared, Preparer, prepare_batch
from services.ingest.mask import ALL_KINDS, Masking

KINDS = Masking(frozenset(ALL_KINDS), b"test-key")


def body(count: int, **extra: object) -> bytes:
    records = [
        {
            "external_id": f"p-{i}",
            "channel": "app",
            "customer_id": f"C{i}",
            "text": f"第{i}次：包装破损，电话 13812345678" if i % 2 else "Great staff, very helpful!",
            "csat": i % 5 + 1,
            "occurred_at": "2026-11-20T09:30:00+08:00",
            **extra,
        }
        for i in range(count)
    ]
    records[3] = {**records[3], "csat": 9}  # rejected
    records[5] = {**records[5], "text": "nul \x00 here"}  # rejected: NUL
    return json.dumps({"records": records}).encode()


def comparable(prepared: Prepared) -> tuple[object, ...]:
    """A preparation without what differs by design between two runs: the proposed record ids (random,
    spliced into the values) and the produced_at clock reading."""
    lot, indices, rejected = prepared
    assert len(set(lot.ids)) == len(lot.ids)
    assert all(uuid.UUID(i).version == 4 for i in lot.ids)
    values = [
        re.sub(rb'"produced_at":"[^"]+"', b"", value.replace(record_id.encode(), b"ID"))
        for value, record_id in zip(lot.values, lot.ids, strict=True)
    ]
    return lot._replace(ids=[], values=values), indices, rejected


async def started(preparer: Preparer) -> None:
    large = body(400)
    assert len(large) >= OFFLOAD_MIN_BYTES
    await preparer.prepare("demo", large, True, KINDS)  # in-process; starts the helper
    assert preparer._starting is not None
    await preparer._starting


async def test_helper_results_equal_in_process_results_and_a_dead_helper_is_replaced():
    preparer = Preparer(1)
    await started(preparer)
    assert preparer._pool is not None
    large = body(600)
    remote = await preparer.prepare("demo", large, True, KINDS)
    local = prepare_batch("demo", large, True, KINDS)
    assert comparable(remote) == comparable(local)
    lot, indices, rejected = remote
    assert lot.size == len(indices) == 598
    assert all(json.loads(value)["event_id"] == i for value, i in zip(lot.values, lot.ids, strict=True))
    assert [(r["index"], r["errors"][0]["field"]) for r in rejected] == [(3, "csat"), (5, "text")]

    too_many = json.dumps({"records": [{"x": "y" * 100}] * 1001}).encode()
    with pytest.raises(RequestValidationError) as refused:
        await preparer.prepare("demo", too_many, True, KINDS)
    assert refused.value.errors()[0]["loc"] == ("body", "records")

    for pid in list(preparer._pool._processes):
        os.kill(pid, signal.SIGKILL)
    after = await preparer.prepare("demo", large, True, KINDS)  # prepared in-process instead
    assert comparable(after) == comparable(local)
    assert preparer._pool is None
    await started(preparer)  # the next large body brings a new helper
    assert comparable(await preparer.prepare("demo", large, True, KINDS)) == comparable(local)
    await preparer._close(preparer._pool)
