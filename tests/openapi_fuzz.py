"""Runs a service's OpenAPI document through schemathesis with all of its checks, in both generation modes.

Shared by the in-process run (tests/integration/test_openapi_fuzz.py) and the live-HTTP run against real
uvicorn processes (tests/e2e/test_openapi_live.py).
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import positive_data_acceptance
from schemathesis.config._checks import NEGATIVE_DATA_REJECTION_EXPECTED_STATUSES, NegativeDataRejectionConfig

BOUNDED = settings(
    max_examples=6,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
    database=None,
)
MODES = (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)


def _event_times() -> st.SearchStrategy[str]:
    """ISO 8601 times with an offset, from 2000 to now: ingest refuses event times before 2000 or more than a
    few minutes ahead of its clock (shared.contracts.bounds, services.ingest.times), a window relative to
    the present that JSON Schema's date-time format cannot state. Drawn in UTC and then shown at an
    offset, so that the offset never moves a time across either edge."""
    offsets = st.sampled_from([UTC, timezone(timedelta(hours=-8)), timezone(timedelta(hours=5, minutes=30))])
    moments = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime.now(UTC).replace(tzinfo=None))
    return st.builds(
        lambda moment, offset: moment.replace(tzinfo=UTC).astimezone(offset).isoformat(), moments, offsets
    )


def _alert_cursors() -> st.SearchStrategy[str]:
    """Cursors as alerting writes them (services.alerting.http.api): a position (created_at, id), URL-safe
    base64. Its document can say no more than the alphabet, and a random string in it is no position."""
    positions = st.tuples(st.datetimes(timezones=st.just(UTC)), st.uuids())
    return positions.map(lambda p: base64.urlsafe_b64encode(f"{p[0].isoformat()}|{p[1]}".encode()).decode())


schemathesis.openapi.format("date-time", _event_times())
schemathesis.openapi.format("alert-cursor", _alert_cursors())

Exclusions = Mapping[str, list[Callable[..., Any]]]
"""Checks left out for one operation ("POST /v1/x"), each with a comment saying why where it is made."""
PerCase = Callable[[], dict[str, Any]]
# Which dimensions a KPI has depends on the metric (alert metrics have `level`, feedback ones `aspect`), and
# `from` must not be after `to`: OpenAPI cannot say that one parameter's values depend on another's, so a
# schema-valid pair can still be refused (a 422 naming the parameter); every other check applies.
INSIGHTS_INTERDEPENDENT: Exclusions = {
    "GET /v1/kpis": [positive_data_acceptance],
    "GET /v1/kpis/records": [positive_data_acceptance],
}


def wait_ready(schema: Any, **call: Any) -> None:
    """Until /readyz answers 200: the first in-process call starts the lifespan, and consumers join late."""
    ready = schema["/readyz"]["GET"]
    for _ in range(300):
        if ready.Case().call(**call).status_code == 200:
            return
        time.sleep(0.2)
    raise AssertionError("the app did not become ready")


def configured(schema: Any) -> Any:
    """`schema` with no NUL in generated strings, no undeclared parameters, and 413 (body too large,
    documented on every operation with a body) counted as refusing negative data: schemathesis' list of
    refusals leaves it out, so a body over a documented maxLength that the size limit refuses first would
    read as accepted."""
    refusals = [*NEGATIVE_DATA_REJECTION_EXPECTED_STATUSES, "413"]
    schema.config.checks.negative_data_rejection = NegativeDataRejectionConfig(expected_statuses=refusals)
    # NUL (U+0000) is refused in every string (PostgreSQL's text and jsonb cannot hold it). Parameters say
    # so with a pattern (shared.params.NO_NUL_SCHEMA); bodies cannot, since free-form metadata (keys and
    # values at any depth) has no string schema to carry one. So no generated string holds NUL.
    schema.config.generation.update(allow_x00=False)
    # Undeclared query parameters, headers and cookies are ignored, as HTTP APIs commonly do (`?=0` reached
    # GET /v1/alerts): OpenAPI cannot declare a closed set of them, so a negative case adding one breaks no
    # documented rule and is not sent. Bodies still refuse unknown fields (additionalProperties: false).
    schema.config.generation.update(allow_extra_parameters=False)
    return schema


def check_operation(
    operation: Any, mode: GenerationMode, headers: dict[str, str], excluded: list[Any], per_case: PerCase
) -> None:
    """A few of the operation's cases in `mode`, each validated by every check less `excluded`."""

    @BOUNDED
    @given(case=operation.as_strategy(generation_mode=mode))
    def check(case: Any) -> None:
        call = per_case()
        call["headers"] = {**headers, **call.get("headers", {})}
        case.call_and_validate(excluded_checks=excluded, **call)

    check()


def negatable(operation: Any) -> bool:
    """Whether the operation takes anything a negative case could get wrong (else hypothesis finds none)."""
    inputs = (
        operation.path_parameters,
        operation.query,
        operation.headers,
        operation.cookies,
        operation.body,
    )
    return any(len(part) for part in inputs)


def fuzz(
    schema: Any, headers: dict[str, str], excluded: Exclusions | None = None, per_case: PerCase = dict
) -> int:
    """Every operation's positive and negative cases, validated by every check schemathesis has (less
    `excluded` for the operations named there); the first failure raises, shrunk. `per_case()` gives the
    keyword arguments of each case's calls (its `headers` added to `headers`). Returns the number of
    operations run."""
    operations = [result.ok() for result in configured(schema).get_all_operations()]
    wait_ready(schema, **per_case())
    for operation in operations:
        skip = list((excluded or {}).get(f"{operation.method.upper()} {operation.path}", []))
        for mode in MODES if negatable(operation) else MODES[:1]:
            check_operation(operation, mode, headers, skip, per_case)
    return len(operations)
