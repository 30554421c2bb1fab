"""What ingest's routes share, built once per app: the client check with its rate limits, PII masking,
the batch preparer, and one ingestor per running service (requests are grouped across the process)."""

from __future__ import annotations

from typing import Any, NamedTuple

from fastapi import HTTPException, Request, status

from services.ingest import metrics
from services.ingest.batches import Preparer
from services.ingest.claims import RecordStore
from services.ingest.config import IngestSettings
from services.ingest.encode import Lot
from services.ingest.mask import Masking
from services.ingest.publish import Ingestor, Outcome, Status, Unavailable
from services.ingest.ratelimit import TokenBuckets
from shared.security import authenticate
from shared.service import Runtime


class Result(NamedTuple):
    status: Status
    record_id: str


class IngestState:
    def __init__(self, settings: IngestSettings, preparer: Preparer | None = None) -> None:
        self.settings = settings
        self.preparer = preparer or Preparer(0)
        """Where batch bodies are validated, masked and serialized (default: in-process)."""
        self.buckets = TokenBuckets(settings.rate_limit_per_s, settings.rate_limit_burst)
        self.masking = Masking(
            frozenset(settings.pii_kinds), settings.pseudonym_key.get_secret_value().encode()
        )
        self._ingestors: dict[int, Ingestor] = {}
        self._counted: dict[tuple[str, str, str], Any] = {}
        """RECORDS children by (kind, channel, status): `labels()` takes a lock each call."""

    def admitted(self, request: Request, presented: str | None) -> str:
        """The calling client's name: 401 without a valid key, 429 over its rate or while its address is
        locked out for wrong keys (shared.security)."""
        name = authenticate(request, self.settings.api_keys, presented)
        wait = self.buckets.take(name)
        if wait > 0:
            metrics.REJECTIONS.labels("rate_limited").inc()
            raise HTTPException(
                status.HTTP_429_TOO_MANY_REQUESTS,
                f"rate limit of {self.settings.rate_limit_per_s:g} requests/s exceeded",
                headers={"Retry-After": str(max(1, round(wait + 0.5)))},
            )
        return name

    def ingestor(self, request: Request) -> Ingestor:
        runtime: Runtime = request.scope["app"].state.runtime
        found = self._ingestors.get(id(runtime))
        if found is None:
            settings = self.settings
            found = self._ingestors[id(runtime)] = Ingestor(
                RecordStore(runtime.database),
                runtime.producer,
                settings.kafka.topic_suffix,
                settings.database_timeout_s,
            )
        return found

    async def submit(self, ingest: Ingestor, who: str, lot: Lot) -> Outcome:
        """The lot's outcome; 503 with Retry-After when the broker or database is unavailable."""
        try:
            return await ingest.submit(who, lot)
        except Unavailable as exc:
            metrics.REJECTIONS.labels(f"{exc.dependency}_unavailable").inc()
            raise HTTPException(503, str(exc), headers={"Retry-After": "5"}) from exc

    async def submit_one(self, ingest: Ingestor, who: str, lot: Lot) -> Result:
        """Submits a one-record lot and counts its outcome."""
        outcome = await self.submit(ingest, who, lot)
        result = Result(outcome.status(0), outcome.ids[0])
        labels = (lot.kind, lot.channels[0], result.status)
        child = self._counted.get(labels)
        if child is None:
            child = self._counted[labels] = metrics.RECORDS.labels(*labels)
        child.inc()
        if result.status == "accepted":
            for kind, count in lot.pii_masked[0].items():
                metrics.PII_MASKED.labels(kind).inc(count)
        return result
