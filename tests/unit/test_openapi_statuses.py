"""Every operation of every service documents the error statuses the shared layers can answer."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi import FastAPI

from services.alerting.app import create_app as alerting_app
from services.ingest.app import create_app as ingest_app
from services.loyalty.app import create_app as loyalty_app
from services.sentiment.app import create_app as sentiment_app
from shared.openapi import add_error_responses, error_statuses

APPS: dict[str, Callable[[], FastAPI]] = {
    "ingest": ingest_app,
    "sentiment": sentiment_app,
    "alerting": alerting_app,
    "loyalty": loyalty_app,
}


def operations(app: FastAPI) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (path, method, operation)
        for path, item in app.openapi()["paths"].items()
        for method, operation in item.items()
    ]


@pytest.mark.parametrize("service", sorted(APPS))
def test_every_keyed_operation_documents_401_403_429_and_503(service: str) -> None:
    keyed = [(p, m, op) for p, m, op in operations(APPS[service]()) if op.get("security")]
    assert keyed, "every service has keyed operations"
    for path, method, operation in keyed:
        missing = {"401", "403", "429", "503"} - set(operation["responses"])
        assert not missing, f"{method.upper()} {path} does not document {sorted(missing)}"


@pytest.mark.parametrize("service", sorted(APPS))
def test_every_body_documents_400_413_and_422_with_a_schema(service: str) -> None:
    for path, method, operation in operations(APPS[service]()):
        if "requestBody" not in operation:
            continue
        for status in ("400", "413", "422"):
            response = operation["responses"].get(status)
            assert response is not None, f"{method.upper()} {path} does not document {status}"
            assert "application/json" in response.get("content", {}), f"{path} {status} has no schema"


def test_readiness_documents_its_503_with_the_readiness_body() -> None:
    paths = loyalty_app().openapi()["paths"]
    not_ready = paths["/readyz"]["get"]["responses"]["503"]
    assert not_ready["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Readiness"}
    assert "503" not in paths["/healthz"]["get"]["responses"]


def test_path_parameters_document_404_and_posts_on_a_resource_409() -> None:
    by_id = {"parameters": [{"in": "path", "name": "id"}]}
    assert {"404", "409", "422", "503"} <= set(error_statuses("/v1/alerts/{id}/ack", "post", by_id))
    assert "409" not in error_statuses("/v1/alerts/{id}", "get", by_id)


def test_a_route_s_own_response_is_kept_and_adding_twice_changes_nothing() -> None:
    own = {"description": "mine"}
    schema = {"paths": {"/x": {"post": {"requestBody": {}, "responses": {"422": own}}}}}
    once = add_error_responses(schema)
    assert once["paths"]["/x"]["post"]["responses"]["422"] is own
    assert add_error_responses(once) == once
