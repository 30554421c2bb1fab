"""Types for request values that the database must be able to take, refused otherwise with a 422 naming
the field: text without NUL, integers within bigint, times that stay times once converted to UTC; and how
times are answered."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, AwareDatetime, PlainSerializer, WithJsonSchema

NUL_MESSAGE = "must not contain NUL (U+0000) characters, which cannot be stored"
BIGINT_MAX = 2**63 - 1
"""PostgreSQL's bigint (and asyncpg's int64): a larger integer cannot even be sent as a parameter."""


def storable(value: str | None) -> str | None:
    if value is not None and "\x00" in value:
        raise ValueError(NUL_MESSAGE)
    return value


def in_utc(value: datetime) -> datetime:
    """`value` in UTC; a time that leaves the calendar once converted (9999-12-31T23:59-14:00) is refused."""
    try:
        return value.astimezone(UTC)
    except OverflowError as exc:
        raise ValueError("out of range once converted to UTC (years 1 to 9999)") from exc


StorableText = AfterValidator(storable)
"""Annotated metadata refusing text with NUL, e.g. `Annotated[str, Query(max_length=200), StorableText]`."""
NO_NUL_SCHEMA: dict[str, Any] = {"pattern": "^[^\\u0000]*$"}
"""The same refusal in the OpenAPI document, for clients and fuzzers: `Query(json_schema_extra=...)`."""
UtcTime = Annotated[AwareDatetime, AfterValidator(in_utc)]
"""A time with its offset (required), as UTC."""


Instant = Annotated[
    datetime,
    PlainSerializer(lambda at: at.isoformat(), return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "format": "date-time"}),
]
"""A time in a JSON answer as Python's isoformat writes it ("+00:00", not pydantic's "Z"): the form the
services have always answered."""
