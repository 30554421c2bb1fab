"""API-key authentication for ingest clients and operators (constant-time comparison)."""

from __future__ import annotations

import hmac
from collections.abc import Callable, Mapping

from fastapi import HTTPException, Security, status
from fastapi.security import APIKeyHeader
from pydantic import SecretStr

API_KEY_HEADER = APIKeyHeader(name="X-API-Key", auto_error=False, description="Client or operator API key")


def _unauthorized() -> HTTPException:
    return HTTPException(
        status.HTTP_401_UNAUTHORIZED,
        "missing or invalid X-API-Key",
        headers={"WWW-Authenticate": "ApiKey"},
    )


def client_for_key(keys: Mapping[str, SecretStr], presented: str | None) -> str | None:
    """The client whose key matches `presented`, comparing every key in constant time."""
    if not presented:
        return None
    found = None
    for client, key in keys.items():
        if hmac.compare_digest(key.get_secret_value().encode(), presented.encode()):
            found = client
    return found


def require_client(keys: Callable[[], Mapping[str, SecretStr]]) -> Callable[[str | None], str]:
    """A dependency returning the calling client's name, or answering 401."""

    def dependency(presented: str | None = Security(API_KEY_HEADER)) -> str:
        client = client_for_key(keys(), presented)
        if client is None:
            raise _unauthorized()
        return client

    return dependency
