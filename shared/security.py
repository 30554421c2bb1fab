"""API-key authentication: keys are configured and kept only as SHA-256 hashes, compared in constant time."""

from __future__ import annotations

import functools
import hashlib
import hmac
from collections.abc import Awaitable, Callable, Mapping

from fastapi import HTTPException, Security, status
from fastapi.security import APIKeyHeader

API_KEY_HEADER = APIKeyHeader(name="X-API-Key", auto_error=False, description="Client or operator API key")
HASH_PATTERN = r"^sha256:[0-9a-f]{64}$"


def hash_key(key: str) -> str:
    """The form a key is configured in: `sha256:<hex digest>` (`python -m shared.security KEY`)."""
    return "sha256:" + hashlib.sha256(key.encode()).hexdigest()


@functools.lru_cache(maxsize=1024)
def _hash_presented(presented: str) -> bytes:
    """hash_key of a presented key, remembered: the same few keys arrive on every request."""
    return hash_key(presented).encode()


def client_for_key(hashes: Mapping[str, str], presented: str | None) -> str | None:
    """The client whose key hash matches `presented`, comparing against every hash in constant time."""
    if not presented:
        return None
    candidate = _hash_presented(presented) if len(presented) <= 256 else hash_key(presented).encode()
    found = None
    for client, key_hash in hashes.items():
        if hmac.compare_digest(key_hash.encode(), candidate):
            found = client
    return found


def require_client(hashes: Callable[[], Mapping[str, str]]) -> Callable[[str | None], Awaitable[str]]:
    """A dependency returning the calling client's name, or answering 401."""

    async def dependency(presented: str | None = Security(API_KEY_HEADER)) -> str:
        client = client_for_key(hashes(), presented)
        if client is None:
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED,
                "missing or invalid X-API-Key",
                headers={"WWW-Authenticate": "ApiKey"},
            )
        return client

    return dependency


if __name__ == "__main__":
    import sys

    print(hash_key(sys.argv[1]))
