"""Hot routes without FastAPI's per-request machinery: the endpoint takes the `Request` and answers a
`Response` itself, and is what both the fast lane and FastAPI's stack run.

Profiling POST /v1/feedback showed FastAPI's dependency solving, body handling and response-model
serialization costing more CPU than the ingest work itself. A direct endpoint parses its body with its
model in one pass (pydantic's JSON validation straight from bytes) and checks the key itself; its route
documents that body model, the API-key scheme and the validation error as a declared parameter would.
Errors take the same paths as FastAPI's: a `RequestValidationError` reaches the app's handler (400 for
malformed JSON, 422 naming each field) and an `HTTPException` its own.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic import BaseModel, TypeAdapter, ValidationError

from shared.errors import NUL_MESSAGE

T = TypeVar("T")
Handler = Callable[[Request], Coroutine[Any, Any, Response]]


SCHEMAS = "#/components/schemas/"
VALIDATION_ERROR = {
    "description": "Validation Error",
    "content": {"application/json": {"schema": {"$ref": SCHEMAS + "HTTPValidationError"}}},
}


def direct_route(body: type[BaseModel], security_scheme: str = "APIKeyHeader") -> type[APIRoute]:
    """A route class (pass it as `route_class_override`) for an endpoint `(Request) -> Response` whose
    JSON body is `body` and which asks for the key of `security_scheme`. The operation documents the
    body, the key and the 422 as for a declared body parameter; ServiceApp.openapi adds `body`'s schema."""

    class DirectRoute(APIRoute):
        body_model = body

        def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
            documented = {
                "requestBody": {
                    "content": {"application/json": {"schema": {"$ref": SCHEMAS + body.__name__}}},
                    "required": True,
                },
                "security": [{security_scheme: []}],
            }
            kwargs["openapi_extra"] = {**documented, **(kwargs.get("openapi_extra") or {})}
            kwargs["responses"] = {**(kwargs.get("responses") or {}), 422: VALIDATION_ERROR}
            super().__init__(path, endpoint, **kwargs)
            self.direct_handler: Handler = endpoint
            """What the app's fast lane runs (see services.ingest.fastlane): the endpoint itself."""

    return DirectRoute


def is_json(content_type: str | None) -> bool:
    if not content_type:
        return False
    kind = content_type.split(";", 1)[0].strip().lower()
    return kind == "application/json" or (kind.startswith("application/") and kind.endswith("+json"))


def parse_raw(raw: bytes, json_body: bool, adapter: TypeAdapter[T]) -> T:
    """The body validated by `adapter`, as FastAPI would for a JSON body parameter (`json_body`: the
    request declared a JSON content type): a missing body or one that is not declared JSON fails
    validation at `body`; error locations start with `body`."""
    try:
        if not raw:
            raise RequestValidationError(
                [{"type": "missing", "loc": ("body",), "msg": "Field required", "input": None}]
            )
        if json_body:
            return adapter.validate_json(raw)
        return adapter.validate_python(raw)
    except ValidationError as exc:
        raise RequestValidationError(_body_errors(exc)) from exc


def _body_errors(exc: ValidationError) -> list[dict[str, Any]]:
    return [{**error, "loc": ("body", *error["loc"])} for error in exc.errors(include_url=False)]


NUL_ESCAPE = b"\\u0000"
"""How a NUL character appears in a JSON body (raw control characters are not valid JSON)."""


def nul_errors(value: Any, loc: tuple[str | int, ...] = ("body",)) -> list[dict[str, Any]]:
    """A validation error for each string inside `value` (a model, dict, list or str) that contains NUL
    (U+0000): PostgreSQL's text and jsonb refuse it, so it must not get past the front door (one such
    record in a group claim would fail every request of the group; downstream it would poison a
    consumer)."""
    if isinstance(value, str):
        if "\x00" not in value:
            return []
        return [{"type": "string_nul", "loc": loc, "msg": NUL_MESSAGE, "input": value.replace("\x00", "\\0")}]
    if isinstance(value, BaseModel):
        fields = type(value).model_fields
        return [e for name in fields for e in nul_errors(getattr(value, name), (*loc, name))]
    if isinstance(value, dict):
        found = []
        for key, item in value.items():
            found += nul_errors(key, loc) + nul_errors(item, (*loc, str(key)))
        return found
    if isinstance(value, list | tuple):
        return [e for index, item in enumerate(value) for e in nul_errors(item, (*loc, index))]
    return []


def refuse_nul(value: Any) -> None:
    """RequestValidationError (422, naming each field) if any string inside the body contains NUL."""
    errors = nul_errors(value)
    if errors:
        raise RequestValidationError(errors)
