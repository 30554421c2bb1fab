"""Each service's OpenAPI document, fuzzed with schemathesis over HTTP against the real uvicorn processes
(all checks, positive and negative data): what the in-process run checks, through the server's own
parsing, headers and error pages.

Bounded: a few examples per operation and mode. Operations that act on the whole shared database are left
out, as in tests/integration/test_openapi_fuzz.py.
"""

from __future__ import annotations

import asyncio
import ipaddress
from typing import Any

import pytest
import schemathesis
from schemathesis.checks import negative_data_rejection

from scripts.harness import Platform, ServiceName
from tests.openapi_fuzz import INSIGHTS_INTERDEPENDENT, Exclusions, fuzz

pytestmark = pytest.mark.integration
INGEST_KEY = {"X-API-Key": "dev-ingest-key"}
OPERATOR_KEY = {"X-API-Key": "dev-operator-key"}


class ClientAddresses:
    """Each case as if from a client address of its own, behind a proxy on 127.0.0.1 (which uvicorn trusts
    with X-Forwarded-For, as it would a proxy in front of it). The services lock an address out after 10
    wrong keys a minute (shared.security.FailedKeyThrottle), and schemathesis' ignored_auth check probes
    each accepted case with a wrong key; the lockout cannot be lifted in a server process, and the probes
    are sent on a session of their own, so the address is a header, which they keep."""

    def __init__(self) -> None:
        self._hosts = ipaddress.IPv4Network("198.18.0.0/15").hosts()  # RFC 2544: for benchmarks and tests

    def __call__(self) -> dict[str, Any]:
        return {"headers": {"X-Forwarded-For": str(next(self._hosts))}}


def fuzz_live(
    platform: Platform, name: ServiceName, headers: dict[str, str], excluded: Exclusions | None = None
) -> int:
    schema: Any = schemathesis.openapi.from_url(f"{platform.url(name)}/openapi.json")
    # acting on the whole shared database: a silence could match other tests' alerts; the schedule run
    # expires and downgrades every member
    schema = schema.exclude(path_regex="^/v1/silences", method="POST").exclude(path="/v1/ops/schedule")
    return fuzz(schema, headers, excluded, per_case=ClientAddresses())


async def test_ingest_answers_every_generated_request_over_http_as_documented(platform: Platform) -> None:
    assert await asyncio.to_thread(fuzz_live, platform, "ingest", INGEST_KEY) >= 5


async def test_sentiment_answers_every_generated_request_over_http_as_documented(platform: Platform) -> None:
    assert await asyncio.to_thread(fuzz_live, platform, "sentiment", OPERATOR_KEY) >= 2


async def test_alerting_answers_every_generated_request_over_http_as_documented(platform: Platform) -> None:
    # YAML text: a schema-violating body is still text, answered 200 {"valid": false, ...} by design
    text_checked = {"POST /v1/rules/validate": [negative_data_rejection]}
    assert await asyncio.to_thread(fuzz_live, platform, "alerting", OPERATOR_KEY, text_checked) >= 8


async def test_loyalty_answers_every_generated_request_over_http_as_documented(platform: Platform) -> None:
    assert await asyncio.to_thread(fuzz_live, platform, "loyalty", OPERATOR_KEY) >= 5


async def test_insights_answers_every_generated_request_over_http_as_documented(platform: Platform) -> None:
    excluded = INSIGHTS_INTERDEPENDENT
    assert await asyncio.to_thread(fuzz_live, platform, "insights", OPERATOR_KEY, excluded) >= 2
