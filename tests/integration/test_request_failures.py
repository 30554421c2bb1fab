"""What a request answers when something no route handled is raised while serving it: the database
refusing one of its values is a 4xx naming the request, an unreachable database a 503 with Retry-After,
and a bug a 500 whose request id is in the answer and in the log line."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text

from shared import http_failures
from shared.db.engine import Database
from shared.errors import install_error_handlers
from shared.settings import DatabaseSettings

pytestmark = pytest.mark.integration


QUERIES = {
    "times": "SELECT CAST(:v AS integer) * 100000",  # the product overflows in PostgreSQL
    "bigint": "SELECT CAST(:v AS bigint)",
}


def app_over(database: Database) -> FastAPI:
    app = FastAPI()
    install_error_handlers(app, "tests")

    @app.get("/cast")
    async def cast(value: int, query: str) -> Any:
        async with database.connection() as conn:
            return (await conn.execute(text(QUERIES[query]), {"v": value})).scalar_one()

    @app.get("/bug")
    async def bug() -> None:
        raise ZeroDivisionError("a bug")

    return app


@pytest.fixture
async def http(database: Database) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app_over(database), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        yield client


@pytest.mark.parametrize(
    ("value", "query", "reason"),
    [
        (99999, "times", "integer out of range"),  # refused by PostgreSQL
        (2**63, "bigint", "out of int64 range"),  # refused by asyncpg before it is sent
    ],
)
async def test_a_value_the_database_refuses_is_a_422_naming_the_request(http, value, query, reason):
    answer = await http.get("/cast", params={"value": value, "query": query})
    assert answer.status_code == 422
    (error,) = answer.json()["detail"]
    assert (error["field"], error["type"]) == ("request", "data_exception")
    assert error["message"].startswith("a value of GET /cast is out of range or not valid")
    assert reason in error["message"]


async def test_an_unreachable_database_is_a_503_with_retry_after():
    url = DatabaseSettings().database_url
    unreachable = Database(DatabaseSettings(DATABASE_URL=re.sub(r"@[^/]+/", "@127.0.0.1:1/", url)), "tests")
    transport = httpx.ASGITransport(app=app_over(unreachable), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        answer = await client.get("/cast", params={"value": 1, "query": "bigint"})
    await unreachable.dispose()
    assert answer.status_code == 503
    assert answer.headers["Retry-After"] == "5"


async def test_a_bug_is_a_500_logged_with_the_request_id_it_answers(http, monkeypatch):
    # The module's logger is replaced by a recorder: structlog's capture_logs cannot see a logger that
    # another test already used (loggers are cached on first use).
    errors: list[dict[str, Any]] = []

    class Recorder:
        def error(self, event: str, **fields: Any) -> None:
            errors.append({"event": event, **fields})

    monkeypatch.setattr(http_failures, "log", Recorder())
    answer = await http.get("/bug", headers={"X-Request-ID": "req-42"})
    anonymous = await http.get("/bug")
    assert (answer.status_code, anonymous.status_code) == (500, 500)
    assert answer.headers["X-Request-ID"] == "req-42"
    generated = anonymous.headers["X-Request-ID"]
    assert [(e["event"], e["request_id"], e["path"]) for e in errors] == [
        ("request_error", "req-42", "/bug"),
        ("request_error", generated, "/bug"),
    ]
    assert isinstance(errors[0]["exc_info"], ZeroDivisionError)
