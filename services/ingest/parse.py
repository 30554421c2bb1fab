"""A fast first reading of batch bodies whose records are all plainly valid (msgspec), pydantic for the rest.

Validating a feedback record with pydantic runs Python code per field (FeedbackIn: strip whitespace,
constraints, three Python validators); msgspec decodes the same record into a Struct in C, several times
faster (`make bench-ingest` measures the batch path). This module accepts only what FeedbackIn accepts with
the same values, and gives up (None: the caller validates with pydantic, which also words the errors) on
anything else:

- msgspec refuses anything outside the Struct's types and limits: unknown fields, wrong types (no lax
  coercion: "3" for a score, 3.0, true), strings too long before stripping (pydantic strips first, so it
  accepts at most as much);
- strings are stripped of exactly what pydantic strips (Unicode White_Space, as Rust's `trim`), and an
  identifier or label left empty gives up;
- `occurred_at` must have an offset (msgspec accepts naive times), and a body with a seventh fraction
  digit anywhere gives up (msgspec rounds it, pydantic truncates); msgspec reads fewer time formats
  than pydantic (no `_` separator), never a format pydantic refuses;
- text empty without a score, metadata over 8 KB or with a key pydantic would strip, a time outside
  services.ingest.times.accepted_times() (too early or too far ahead), a NUL anywhere: give up;
- scores are integers and times are strings here as in FeedbackIn (strict: no booleans, no numbers for
  times), and msgspec's bounds on them are FeedbackIn's; a score spelled 3.0, which FeedbackIn reads as 3,
  gives up.

tests/unit/test_ingest_plain.py compares the two readings on generated bodies.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Annotated, Any

import msgspec
from pydantic_core import to_json

from services.ingest.schemas import MAX_METADATA_BYTES
from services.ingest.shapes import WHITESPACE
from services.ingest.times import accepted_times
from shared.contracts.feedback import Channel, Language

_Id = Annotated[str, msgspec.Meta(max_length=200)]
_Label = Annotated[str, msgspec.Meta(max_length=100)]
_LONG_FRACTION = re.compile(rb"\.\d{7}")
"""Where a time might have more than microseconds: msgspec rounds them, pydantic truncates."""


class PlainFeedback(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """FeedbackIn's fields in its order (so that `hash_json` is its JSON), read by attribute as a model's."""

    external_id: _Id
    channel: Channel
    customer_id: _Id
    csat: Annotated[int, msgspec.Meta(ge=1, le=5)] | None = None
    nps: Annotated[int, msgspec.Meta(ge=0, le=10)] | None = None
    ces: Annotated[int, msgspec.Meta(ge=1, le=7)] | None = None
    stars: Annotated[int, msgspec.Meta(ge=1, le=5)] | None = None
    text: Annotated[str, msgspec.Meta(max_length=10_000)] = ""
    language: Language | None = None
    business_line: _Label | None = None
    region: _Label | None = None
    store_id: _Label | None = None
    product_id: _Label | None = None
    occurred_at: datetime
    metadata: dict[str, Any] = {}

    def hash_json(self) -> bytes:
        """The JSON FeedbackIn's serializer makes for the same record (the payload hash's input)."""
        if self.metadata:  # msgspec writes some floats differently (1e20 vs 1e+20)
            return to_json(msgspec.structs.asdict(self))
        return _ENCODE(self)


class _Batch(msgspec.Struct, forbid_unknown_fields=True):
    records: Annotated[list[PlainFeedback], msgspec.Meta(min_length=1, max_length=1000)]


_DECODE = msgspec.json.Decoder(_Batch).decode
_ENCODE = msgspec.json.Encoder().encode
_STRIPPED = ("external_id", "customer_id", "business_line", "region", "store_id", "product_id")
"""The identifiers and labels: stripped, and none may be left empty."""
_SCORES = ("csat", "nps", "ces", "stars")


def plain_records(raw: bytes) -> list[PlainFeedback] | None:
    """Every record of a batch body, valid as FeedbackIn would make it; None when any record (or the
    envelope) is not plainly valid and pydantic must decide."""
    if b"\\u0000" in raw or _LONG_FRACTION.search(raw):
        return None
    try:
        records = _DECODE(raw).records
    except (msgspec.ValidationError, msgspec.DecodeError):
        return None
    earliest, latest = accepted_times()
    for record in records:
        if not _settle(record, earliest, latest):
            return None
    return records


def _settle(record: PlainFeedback, earliest: float, latest: float) -> bool:
    """Strip and check what msgspec does not; False: not plainly valid."""
    for name in _STRIPPED:
        value = getattr(record, name)
        if value is not None:  # only labels may be None
            stripped = value.strip(WHITESPACE)
            if not stripped:
                return False
            if stripped is not value:
                setattr(record, name, stripped)
    value = record.text
    stripped = value.strip(WHITESPACE)
    if stripped is not value:
        record.text = stripped
    if not stripped and all(getattr(record, name) is None for name in _SCORES):
        return False
    moment = record.occurred_at
    if moment.tzinfo is None or not earliest <= moment.timestamp() <= latest:  # within_accepted_times' test
        return False
    metadata = record.metadata
    if not metadata:
        return True
    if any(key.strip(WHITESPACE) != key for key in metadata):
        return False
    return len(json.dumps(metadata, ensure_ascii=False).encode()) <= MAX_METADATA_BYTES
