"""Bounds on event fields: values every consumer can store and compute with. The contracts refuse anything
outside them (a record that would fail a consumer forever goes to the DLQ instead), and ingest refuses it at
the door with a 422 naming the field."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Annotated, Any

from pydantic import AfterValidator, AwareDatetime, BeforeValidator, Field, Strict, StrictInt
from pydantic_core import PydanticCustomError

EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST = datetime(2100, 1, 1, tzinfo=UTC)
"""Event times lie in [EARLIEST, LATEST). An absolute window, not "now plus a tolerance": a record must decode
the same whenever it is read (replays from the DLQ, consumers on virtual clocks or with clocks apart), and
times near datetime's limits break date arithmetic (year 1 minus a day, year 9999 plus a year). The edge
also refuses times ahead of its own clock (services.ingest.config.TimeBounds)."""
LATEST_DAY = date(2111, 1, 1)
"""Expiry dates: a lot earned before LATEST expires at most 120 months later (loyalty's lot_expiry_months)."""

MAX_AMOUNT = Decimal("9999999999.99")
"""Amounts below 10^10 with cents: loyalty's Numeric(14, 2) columns hold them, and the points they earn
under the largest multipliers the earning rules allow stay within MAX_POINTS."""
MAX_QUANTITY = 1_000_000
MAX_POINTS = 10**14
"""The most points one movement can carry: MAX_AMOUNT × at most 100 points per currency unit × tier and
promotion multipliers of at most 10 each is below it (services.loyalty.rules enforces those)."""
MAX_BIGINT = 2**63 - 1
"""PostgreSQL's bigint: loyalty's points columns, so balances hold many maximal movements."""
MAX_INT = 2**31 - 1
"""PostgreSQL's integer: counters such as an alert's count."""

ID_LENGTH = 200
LABEL_LENGTH = 100
TEXT_LENGTH = 10_000

_NUMBER = re.compile(r"\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*")
"""What pydantic would read as seconds since the epoch when given as a string."""


def not_a_number(value: Any) -> Any:
    """Refuse numbers (and booleans) where a date or time is expected: pydantic would read `0` or `"0"` as
    1970-01-01, which is never what a client meant."""
    if isinstance(value, int | float) or (isinstance(value, str) and _NUMBER.fullmatch(value)):
        raise PydanticCustomError("datetime_type", "Input should be an ISO 8601 date or date-time string")
    return value


def within_window(value: datetime) -> datetime:
    if value < EARLIEST:
        raise ValueError(f"must not be before {EARLIEST.isoformat()}")
    if value >= LATEST:
        raise ValueError(f"must be before {LATEST.isoformat()}")
    return value


def day_within_window(value: date) -> date:
    if not EARLIEST.date() <= value < LATEST_DAY:
        raise ValueError(f"must be from {EARLIEST.date()} and before {LATEST_DAY}")
    return value


Timestamp = Annotated[AwareDatetime, BeforeValidator(not_a_number), AfterValidator(within_window)]
Day = Annotated[date, BeforeValidator(not_a_number), AfterValidator(day_within_window)]

Amount = Annotated[Decimal, Field(gt=0, le=MAX_AMOUNT, decimal_places=2)]
Price = Annotated[Decimal, Field(ge=0, le=MAX_AMOUNT, decimal_places=2)]


def integral_float_as_int(value: Any) -> Any:
    """3.0 as 3: JSON Schema counts an integral number as an integer whatever its spelling, and so do
    clients' JSON encoders (JavaScript has no other number). Everything else goes on to the strict check,
    which refuses booleans, strings and 3.5."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


WholeNumber = BeforeValidator(integral_float_as_int)
"""Annotated metadata, after an integer's constraints (before them, they leave the OpenAPI document as "ge"
rather than "minimum"): a JSON integer, 3.0 included; not a boolean, a string or a fraction."""

Quantity = Annotated[StrictInt, Field(ge=1, le=MAX_QUANTITY), WholeNumber]
Points = Annotated[StrictInt, Field(ge=-MAX_POINTS, le=MAX_POINTS), WholeNumber]
Count = Annotated[StrictInt, Field(ge=0, le=MAX_INT), WholeNumber]
Number = Annotated[float, Strict(), Field(allow_inf_nan=False)]
"""A JSON number (an integer is fine); not a boolean or a string."""

Csat = Annotated[StrictInt, Field(ge=1, le=5), WholeNumber]
Nps = Annotated[StrictInt, Field(ge=0, le=10), WholeNumber]
Ces = Annotated[StrictInt, Field(ge=1, le=7), WholeNumber]
Stars = Annotated[StrictInt, Field(ge=1, le=5), WholeNumber]

IdText = Annotated[str, Field(max_length=ID_LENGTH)]
LabelText = Annotated[str, Field(max_length=LABEL_LENGTH)]
FreeText = Annotated[str, Field(max_length=TEXT_LENGTH)]
