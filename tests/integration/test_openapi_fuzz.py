"""Each service's OpenAPI document, fuzzed with schemathesis in-process (ASGI, lifespan started once per app):
no request, however odd, gets a 5xx, and every answer has the documented content type and schema.

Bounded: a few examples per operation so the four services finish within a minute. Operations that act on
the whole shared database (loyalty's schedule run, silences that could match other tests' alerts) are
left out: they are covered by their own tests.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from aiokafka.admin import AIOKafkaAdminClient
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import content_type_conformance, not_a_server_error, response_schema_conformance
from schemathesis.python.asgi import shutdown_lifespans

from services.alerting.app import create_app as alerting_app
from services.alerting.config import AlertingSettings
from services.ingest.app import create_app as ingest_app
from services.ingest.config import IngestSettings
from services.loyalty.app import create_app as loyalty_app
from services.loyalty.config import LoyaltySettings
from services.sentiment.app import create_app as sentiment_app
from services.sentiment.config import SentimentSettings
from shared.contracts.registry import TOPICS
from shared.kafka.admin import ensure_topics
from shared.settings import KafkaSettings
from tests.conftest import _require_broker, unique_suffix

pytestmark = pytest.mark.integration
INGEST_KEY = {"X-API-Key": "dev-ingest-key"}
OPERATOR_KEY = {"X-API-Key": "dev-operator-key"}
CHECKS = [not_a_server_error, response_schema_conformance, content_type_conformance]
BOUNDED = settings(
    max_examples=8,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
    database=None,
)


@pytest.fixture(scope="module")
def kafka() -> Iterator[KafkaSettings]:
    """Topics of this module's own; the apps' lifespans are shut down before they are deleted."""
    _require_broker()
    settings = KafkaSettings(topic_suffix=unique_suffix(), publish_timeout_s=5)
    created = asyncio.run(ensure_topics(settings, list(TOPICS.values())))
    yield settings
    shutdown_lifespans()

    async def delete() -> None:
        admin = AIOKafkaAdminClient(bootstrap_servers=settings.bootstrap_servers)
        await admin.start()
        try:
            await admin.delete_topics(created)
        finally:
            await admin.close()

    asyncio.run(delete())


def group(name: str) -> str:
    return f"{name}-fuzz-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def ingest_api(kafka: KafkaSettings) -> Any:
    return schemathesis.openapi.from_asgi("/openapi.json", ingest_app(IngestSettings(kafka=kafka)))


@pytest.fixture(scope="module")
def sentiment_api(kafka: KafkaSettings) -> Any:
    app = sentiment_app(SentimentSettings(kafka=kafka, consumer_group=group("sentiment")))
    return schemathesis.openapi.from_asgi("/openapi.json", app)


@pytest.fixture(scope="module")
def alerting_api(kafka: KafkaSettings) -> Any:
    app = alerting_app(
        AlertingSettings(kafka=kafka, consumer_group=group("alerting"), run_timers=False, run_notifier=False)
    )
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    return schema.exclude(path_regex="^/v1/silences", method="POST")


@pytest.fixture(scope="module")
def loyalty_api(kafka: KafkaSettings) -> Any:
    app = loyalty_app(LoyaltySettings(kafka=kafka, consumer_group=group("loyalty"), schedule_interval_s=0))
    return schemathesis.openapi.from_asgi("/openapi.json", app).exclude(path="/v1/ops/schedule")


def fuzz(schema: Any, headers: dict[str, str]) -> int:
    """Runs every operation's generated cases through the app; the first failure raises (shrunk)."""
    operations = [result.ok() for result in schema.get_all_operations()]
    ready = schema["/readyz"]["GET"]
    for _ in range(300):  # the first call starts the lifespan; consumers join their groups after
        if ready.Case().call().status_code == 200:
            break
        time.sleep(0.2)
    else:
        raise AssertionError("the app did not become ready")
    for operation in operations:

        @BOUNDED
        @given(case=operation.as_strategy())
        def call(case: Any) -> None:
            case.call_and_validate(headers=headers, checks=CHECKS)

        call()
    return len(operations)


def test_ingest_answers_every_generated_request_as_documented(ingest_api: Any) -> None:
    assert fuzz(ingest_api, INGEST_KEY) >= 5


def test_sentiment_answers_every_generated_request_as_documented(sentiment_api: Any) -> None:
    assert fuzz(sentiment_api, OPERATOR_KEY) >= 2


def test_alerting_answers_every_generated_request_as_documented(alerting_api: Any) -> None:
    assert fuzz(alerting_api, OPERATOR_KEY) >= 8


def test_loyalty_answers_every_generated_request_as_documented(loyalty_api: Any) -> None:
    assert fuzz(loyalty_api, OPERATOR_KEY) >= 5
