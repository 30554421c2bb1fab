"""Crafted requests to the alerting API are answered with a 4xx naming the field, never a 5xx; a rules file
is parsed off the event loop; a silence cannot match every alert by accident."""

from __future__ import annotations

import asyncio
import base64
import threading
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from services.alerting.app import create_app
from services.alerting.config import AlertingSettings
from services.alerting.http import api
from services.alerting.rules import DEFAULT_RULES
from tests.support.apps import Untouchable

RULES = Path(DEFAULT_RULES).read_text()
LAUGHS = "a: &a [" + ", ".join(["x"] * 40) + "]\n"
LAUGHS += "".join(f"{c}: &{c} [{', '.join([f'*{p}'] * 40)}]\n" for p, c in zip("abcde", "bcdef", strict=True))

OPERATOR = {"X-API-Key": "dev-operator-key"}
YAML = {"Content-Type": "application/yaml"}


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    """The app without its lifespan, whose runtime fails the test if a request reaches it: every request
    here must be answered before any database access."""
    app = create_app(AlertingSettings(run_timers=False, run_notifier=False))
    app.state.runtime = Untouchable()
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://alerting", headers=OPERATOR) as client:
        yield client


def fields(answer: httpx.Response) -> list[str]:
    return [error["field"] for error in answer.json()["detail"]]


def cursor(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode()


@pytest.mark.parametrize(
    "at",
    [
        "9999-12-31T23:59:59-14:00",  # past year 9999 once in UTC
        "0001-01-01T00:00:00+14:00",  # before year 1 once in UTC
        "2026-01-01T00:00:00",  # no offset
    ],
)
async def test_a_cursor_naming_a_time_outside_the_calendar_is_a_422_naming_cursor(http, at):
    answer = await http.get("/v1/alerts", params={"cursor": cursor(f"{at}|{uuid.uuid4()}")})
    assert answer.status_code == 422
    assert fields(answer) == ["cursor"]


@pytest.mark.parametrize(
    ("param", "value"),
    [("customer", "x" * 201), ("rule", "a\x00b"), ("group", "a\x00"), ("cursor", "c" * 201)],
)
async def test_alert_filters_too_long_or_with_nul_are_a_422_naming_the_filter(http, param, value):
    answer = await http.get("/v1/alerts", params={param: value})
    assert answer.status_code == 422
    assert fields(answer) == [f"query.{param}"]


async def test_deleting_a_silence_with_a_nul_actor_is_a_422_naming_actor(http):
    answer = await http.delete(f"/v1/silences/{uuid.uuid4()}", params={"actor": "a\x00"})
    assert answer.status_code == 422
    assert fields(answer) == ["query.actor"]


@pytest.mark.parametrize(
    "text",
    [
        "[" * 5000 + "]" * 5000,  # flow style
        "rules:\n  " + "- " * 5000 + "x\n",  # block style
        LAUGHS,  # aliases of aliases: 40^6 nodes
    ],
)
async def test_a_rules_file_too_deep_or_too_large_once_expanded_is_a_422_naming_its_line(http, text):
    answer = await http.post("/v1/rules/validate", content=text, headers=YAML)
    assert answer.status_code == 422
    (error,) = answer.json()["detail"]
    assert error["field"] == "body"
    assert error["message"].startswith("rules:")
    assert "levels" in error["message"] or "nodes" in error["message"]


async def test_a_rules_body_is_read_up_to_256_kib_and_as_utf8(http):
    padding = "# " + "x" * 1000 + "\n"
    text = RULES + padding * 300
    answer = await http.post("/v1/rules/validate", content=text, headers=YAML)
    assert answer.status_code == 413
    assert answer.json() == {"detail": f"request body exceeds {api.RULES_MAX_BYTES} bytes"}
    answer = await http.post("/v1/rules/validate", content=b"rules: \xff\n", headers=YAML)
    assert answer.status_code == 422
    assert fields(answer) == ["body"]


async def test_the_service_answers_other_requests_while_a_rules_file_is_parsed(http, monkeypatch):
    """The parse is held until /healthz has been answered: on the event loop it would hold the loop too,
    and the health request could not be answered until the parse had finished."""
    started, release = threading.Event(), threading.Event()
    parse = api.parse_yaml  # type: ignore[attr-defined]  # the name the route calls

    def held(*args: Any) -> Any:
        started.set()
        release.wait(timeout=10)
        return parse(*args)

    monkeypatch.setattr(api, "parse_yaml", held)
    validating = asyncio.create_task(http.post("/v1/rules/validate", content=RULES, headers=YAML))
    assert await asyncio.to_thread(started.wait, 10)
    health = await http.get("/healthz")
    parsed_before_health = validating.done()
    release.set()
    answer = await validating
    assert health.status_code == 200
    assert not parsed_before_health
    assert answer.json()["valid"] is True


SILENCE = {"ends_at": "2030-01-01T00:00:00Z", "created_by": "ops", "comment": "maintenance"}


@pytest.mark.parametrize(
    "matchers",
    [
        [{"name": "no_such_label", "value": ""}],
        [{"name": "no_such_label", "value": ""}, {"name": "level", "value": ""}],
    ],
)
async def test_a_silence_whose_matchers_all_match_the_empty_string_is_refused(http, matchers):
    answer = await http.post("/v1/silences", json={"matchers": matchers, **SILENCE})
    assert answer.status_code == 422
    assert fields(answer) == ["matchers"]
    assert "non-empty value" in answer.json()["detail"][0]["message"]


def test_a_silence_needs_one_matcher_that_requires_a_label():
    lacking = {"name": "business_line", "value": ""}
    with pytest.raises(ValidationError, match="non-empty value"):
        api.SilenceCreate.model_validate({"matchers": [lacking], **SILENCE})
    matchers = [lacking, {"name": "rule", "value": "one-star-feedback"}]
    assert len(api.SilenceCreate.model_validate({"matchers": matchers, **SILENCE}).matchers) == 2


def test_the_silence_route_documents_its_matcher_semantics(http):
    operation = http._transport.app.openapi()["paths"]["/v1/silences"]["post"]
    assert "label the alert lacks counts as empty" in operation["description"]
