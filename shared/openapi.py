"""The OpenAPI document names every status an operation can answer, not only its success.

The shared layers answer the same statuses on every route, so they are documented here once, from what
each operation has: a body (400 malformed JSON, 413 too large, 422), parameters (422), a path parameter
(404), a POST on a resource (409: it conflicts with the resource's state), a key or console session (401
missing or wrong, 403 refused, 429 too many failed keys) and any dependency on the database or broker (503
with Retry-After). A route's own `responses` stay as the route wrote them.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

OPEN_PATHS = frozenset({"/healthz", "/metrics"})
"""Answered from memory: no database, broker or key behind them."""

MESSAGE_SCHEMA: dict[str, Any] = {
    "title": "ErrorMessage",
    "type": "object",
    "required": ["detail"],
    "properties": {"detail": {"description": "what went wrong, in words or as field errors"}},
}

DESCRIPTIONS = {
    "400": "Malformed JSON",
    "401": "Missing or invalid X-API-Key",
    "403": "Refused: wrong scope, cross-origin or missing CSRF token",
    "404": "No such resource",
    "409": "Conflicts with the resource's current state",
    "413": "Request body too large",
    "422": "Validation error naming each field",
    "429": "Too many requests or failed keys from this client; see Retry-After",
    "503": "Database or broker unavailable; retry after Retry-After seconds",
}
RETRY_AFTER = {"Retry-After": {"description": "seconds to wait", "schema": {"type": "integer"}}}


def error_statuses(path: str, method: str, operation: dict[str, Any]) -> list[str]:
    """The statuses the shared layers can answer for this operation."""
    statuses: list[str] = []
    parameters = operation.get("parameters", [])
    has_body = "requestBody" in operation
    if has_body:
        statuses += ["400", "413"]
    if has_body or parameters:
        statuses.append("422")
    if any(p.get("in") == "path" for p in parameters):
        statuses.append("404")
        if method == "post":
            statuses.append("409")
    if operation.get("security") or path.startswith("/console/"):
        statuses += ["401", "403", "429"]
    if path not in OPEN_PATHS:
        statuses.append("503")
    return statuses


def error_response(description: str, retry_after: bool = False) -> dict[str, Any]:
    """A route's own documented error: an ErrorMessage body (and Retry-After where it asks for a retry)."""
    response: dict[str, Any] = {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorMessage"}}},
    }
    if retry_after:
        response["headers"] = RETRY_AFTER
    return response


def _response(status: str) -> dict[str, Any]:
    return error_response(DESCRIPTIONS[status], retry_after=status in ("429", "503"))


def add_error_responses(schema: dict[str, Any]) -> dict[str, Any]:
    """Adds the shared error statuses to every operation of `schema` (in place; idempotent)."""
    schema.setdefault("components", {}).setdefault("schemas", {})["ErrorMessage"] = MESSAGE_SCHEMA
    for path, operations in schema.get("paths", {}).items():
        for method, operation in operations.items():
            responses = operation.setdefault("responses", {})
            for status in error_statuses(path, method, operation):
                responses.setdefault(status, _response(status))
    return schema


def document_error_statuses(app: FastAPI) -> None:
    """Makes `app.openapi()` document the shared error statuses on every operation."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        return add_error_responses(generate())

    app.openapi = openapi  # type: ignore[method-assign]
