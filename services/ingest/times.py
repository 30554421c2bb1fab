"""The event times ingest accepts: within the contracts' window, and not ahead of this service's clock by more
than a tolerance (services.ingest.config.TimeBounds, read from the environment)."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime, BeforeValidator

from services.ingest.config import TimeBounds
from shared.contracts.bounds import LATEST, not_a_number
from shared.settings import load_settings

TIME_BOUNDS = load_settings(TimeBounds)
"""Read once per process, in the helper processes too (they inherit the environment)."""


def accepted_times() -> tuple[float, float]:
    """The earliest and latest event time (POSIX seconds) ingest accepts now."""
    latest = min(time.time() + TIME_BOUNDS.future_tolerance_s, LATEST.timestamp())
    return TIME_BOUNDS.earliest_time.timestamp(), latest


def within_accepted_times(value: datetime) -> datetime:
    earliest, latest = accepted_times()
    moment = value.timestamp()
    if moment < earliest:
        raise ValueError(f"must not be before {TIME_BOUNDS.earliest_time.isoformat()}")
    if moment > latest:
        raise ValueError(f"must not be more than {_duration(TIME_BOUNDS.future_tolerance_s)} in the future")
    return value


def _duration(seconds: float) -> str:
    return f"{seconds / 60:g} minutes" if seconds % 60 == 0 else f"{seconds:g} seconds"


EventTime = Annotated[AwareDatetime, BeforeValidator(not_a_number), AfterValidator(within_accepted_times)]
"""An event's time as clients send it: an ISO 8601 string with an offset, within accepted_times()."""
