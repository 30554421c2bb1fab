"""Each service's OpenAPI document, fuzzed with schemathesis in-process (ASGI, lifespan started once per app)
with all of its checks, on positive and negative data: no request, however odd, gets a 5xx; valid requests
are accepted and invalid ones refused with a documented 4xx; every answer has a documented status, content
type, headers and schema; auth is enforced.

Bounded: a few examples per operation and mode. Operations that act on the whole shared database (loyalty's
schedule run, silences that could match other tests' alerts) are left out: they are covered by their own
tests. The failed-key lockout is lifted for these apps only, since ignored_auth probes every accepted
request with a wrong key from the one test client address.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from aiokafka.admin import AIOKafkaAdminClient
from fastapi import FastAPI
from schemathesis.checks import negative_data_rejection
from schemathesis.python.asgi import shutdown_lifespans

from services.alerting.app import create_app as alerting_app
from services.alerting.config import AlertingSettings
from services.ingest.app import create_app as ingest_app
from services.ingest.config import IngestSettings
from services.insights.app import create_app as insights_app
from services.insights.config import InsightsSettings
from services.loyalty.app import create_app as loyalty_app
from services.loyalty.config import LoyaltySettings
from services.sentiment.app import create_app as sentiment_app
from services.sentiment.config import SentimentSettings
from shared.contracts.registry import TOPICS
from shared.kafka.admin import ensure_topics
from shared.security import FailedKeyThrottle
from shared.settings import KafkaSettings
from tests.conftest import _require_broker, unique_suffix
from tests.openapi_fuzz import INSIGHTS_INTERDEPENDENT, fuzz

pytestmark = pytest.mark.integration
INGEST_KEY = {"X-API-Key": "dev-ingest-key"}
OPERATOR_KEY = {"X-API-Key": "dev-operator-key"}


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


def served(app: FastAPI) -> Any:
    """`app`'s schema for schemathesis, its failed-key lockout lifted (it stays on by default)."""
    app.state.key_throttle = FailedKeyThrottle(max_failures=10**6)
    return schemathesis.openapi.from_asgi("/openapi.json", app)


@pytest.fixture(scope="module")
def ingest_api(kafka: KafkaSettings) -> Any:
    return served(ingest_app(IngestSettings(kafka=kafka)))


@pytest.fixture(scope="module")
def sentiment_api(kafka: KafkaSettings) -> Any:
    app = sentiment_app(SentimentSettings(kafka=kafka, consumer_group=group("sentiment")))
    return served(app)


@pytest.fixture(scope="module")
def alerting_api(kafka: KafkaSettings) -> Any:
    app = alerting_app(
        AlertingSettings(kafka=kafka, consumer_group=group("alerting"), run_timers=False, run_notifier=False)
    )
    return served(app).exclude(path_regex="^/v1/silences", method="POST")


@pytest.fixture(scope="module")
def loyalty_api(kafka: KafkaSettings) -> Any:
    app = loyalty_app(LoyaltySettings(kafka=kafka, consumer_group=group("loyalty"), schedule_interval_s=0))
    return served(app).exclude(path="/v1/ops/schedule")


@pytest.fixture(scope="module")
def insights_api(kafka: KafkaSettings) -> Any:
    return served(insights_app(InsightsSettings(kafka=kafka, consumer_group=group("insights"))))


def test_ingest_answers_every_generated_request_as_documented(ingest_api: Any) -> None:
    assert fuzz(ingest_api, INGEST_KEY) >= 5


def test_sentiment_answers_every_generated_request_as_documented(sentiment_api: Any) -> None:
    assert fuzz(sentiment_api, OPERATOR_KEY) >= 2


def test_alerting_answers_every_generated_request_as_documented(alerting_api: Any) -> None:
    # A rules file is YAML text: a schema-violating body is still text, which the validator answers with
    # 200 {"valid": false, ...} by design (its job is to report what is wrong), not a 4xx.
    text_checked = {"POST /v1/rules/validate": [negative_data_rejection]}
    assert fuzz(alerting_api, OPERATOR_KEY, text_checked) >= 8


def test_loyalty_answers_every_generated_request_as_documented(loyalty_api: Any) -> None:
    assert fuzz(loyalty_api, OPERATOR_KEY) >= 5


def test_insights_answers_every_generated_request_as_documented(insights_api: Any) -> None:
    assert fuzz(insights_api, OPERATOR_KEY, INSIGHTS_INTERDEPENDENT) >= 2
