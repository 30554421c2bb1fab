"""Garbage-collector settings for long-running services.

A service's heap after start-up (FastAPI, pydantic schemas, SQLAlchemy, aiokafka) is a few hundred
thousand objects that live as long as the process. CPython's default collector walks them again in
every full collection, and a busy request path (dicts and tuples per record) triggers young
collections every 700 allocations: CPU per record and, through collector pauses, the latency tail
grow with the heap. Freezing moves the start-up objects out of the collector's view;
the higher first threshold makes young collections rarer. Cycles are still collected.
"""

from __future__ import annotations

import gc

GEN0_THRESHOLD = 50_000
OLDER_THRESHOLDS = (20, 20)


def tune_gc() -> None:
    """Call once start-up is done: collect, freeze what survived, raise the thresholds."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(GEN0_THRESHOLD, *OLDER_THRESHOLDS)
