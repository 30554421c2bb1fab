"""API-key authentication: keys are configured and kept only as SHA-256 hashes, compared in constant time,
and an address that keeps presenting wrong keys is locked out for a while (429 with Retry-After)."""

from __future__ import annotations

import functools
import hashlib
import hmac
import ipaddress
import math
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Annotated

import structlog
from fastapi import HTTPException, Request, Security, status
from fastapi.security import APIKeyHeader
from pydantic import StringConstraints

API_KEY_HEADER = APIKeyHeader(name="X-API-Key", auto_error=False, description="Client or operator API key")
HASH_PATTERN = r"^sha256:[0-9a-f]{64}$"
KeyHash = Annotated[str, StringConstraints(pattern=HASH_PATTERN)]

log = structlog.get_logger(__name__)


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


@dataclass(slots=True)
class _Failures:
    since: float
    count: int = 0
    locked_until: float = 0.0


class FailedKeyThrottle:
    """Wrong keys counted per client address: `max_failures` within `window_s` lock the address out for
    `lockout_s`.

    Only wrong keys count (a missing key is no guess), but a locked-out address is refused whatever it
    presents, the right key included: a lock the right key passed would still tell a guesser when it had
    found one. The price is that clients sharing an address (NAT, a proxy) share a lock. Counts are per
    process, so each replica locks on its own; at most `max_addresses` are kept, the one that failed
    least recently forgotten first, so a flood of addresses cannot exhaust memory.
    """

    def __init__(
        self,
        max_failures: int = 10,
        window_s: float = 60.0,
        lockout_s: float = 300.0,
        max_addresses: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_failures, self.window_s, self.lockout_s = max_failures, window_s, lockout_s
        self.max_addresses, self._clock = max_addresses, clock
        self._failures: OrderedDict[str, _Failures] = OrderedDict()

    def retry_after(self, address: str) -> float:
        """Seconds until `address` may present a key again; 0 when it is not locked out."""
        entry = self._failures.get(address)
        return 0.0 if entry is None else max(0.0, entry.locked_until - self._clock())

    def failed(self, address: str) -> bool:
        """Counts one wrong key from `address`; True when that locks it out."""
        now = self._clock()
        entry = self._failures.pop(address, None) or _Failures(now)
        if now - entry.since > self.window_s:
            entry.since, entry.count = now, 0
        entry.count += 1
        locked = entry.count >= self.max_failures
        if locked:
            entry.since, entry.count, entry.locked_until = now, 0, now + self.lockout_s
        self._failures[address] = entry  # (re)inserted last: the most recent failure
        while len(self._failures) > self.max_addresses:
            self._failures.popitem(last=False)
        return locked

    def __len__(self) -> int:
        return len(self._failures)


def client_address(request: Request) -> str:
    """Who is throttled: the peer's address, an IPv6 peer by its /64 (one host commonly holds all of it)."""
    return _throttled(request.client.host if request.client else "")


@functools.lru_cache(maxsize=4096)
def _throttled(host: str) -> str:
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return host
    if ip.version == 6 and ip.ipv4_mapped is None:
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


def throttle_of(request: Request) -> FailedKeyThrottle:
    """The app's throttle, made at first use: every key check of one service counts against it. Set
    `app.state.key_throttle` beforehand for other limits (e.g. a fuzzer probing wrong keys from one
    address)."""
    throttle = getattr(request.app.state, "key_throttle", None)
    if not isinstance(throttle, FailedKeyThrottle):
        throttle = request.app.state.key_throttle = FailedKeyThrottle()
    return throttle


def identify(request: Request, hashes: Mapping[str, str], presented: str | None) -> str | None:
    """The client whose key was presented, or None (a wrong key counts against the caller's address);
    429 with Retry-After while that address is locked out."""
    if not presented:
        return None
    throttle, address = throttle_of(request), client_address(request)
    wait = throttle.retry_after(address)
    if wait > 0:
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            "too many wrong keys from this address; try again later",
            headers={"Retry-After": str(math.ceil(wait))},
        )
    client = client_for_key(hashes, presented)
    if client is None and throttle.failed(address):
        log.warning("api_key_guesses_locked_out", address=address, lockout_s=throttle.lockout_s)
    return client


def authenticate(request: Request, hashes: Mapping[str, str], presented: str | None) -> str:
    """The calling client's name: 401 without a valid key, 429 while its address is locked out."""
    client = identify(request, hashes, presented)
    if client is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "missing or invalid X-API-Key",
            headers={"WWW-Authenticate": "ApiKey"},
        )
    return client


def require_client(
    hashes: Callable[[], Mapping[str, str]], allowed: Collection[str] | None = None
) -> Callable[[Request, str | None], Awaitable[str]]:
    """A dependency returning the calling client's name (401/429 as `authenticate`); a valid key of a
    client not in `allowed` is a 403, not a wrong key."""
    return _client_dependency(lambda _: hashes(), allowed)


def app_client(allowed: Collection[str] | None = None) -> Callable[[Request, str | None], Awaitable[str]]:
    """As `require_client`, with the keys the app holds in `app.state.key_hashes` (client name → hash),
    so that a module-level router needs no closure over settings."""
    return _client_dependency(lambda request: request.app.state.key_hashes, allowed)


def _client_dependency(
    hashes: Callable[[Request], Mapping[str, str]], allowed: Collection[str] | None
) -> Callable[[Request, str | None], Awaitable[str]]:
    async def dependency(request: Request, presented: str | None = Security(API_KEY_HEADER)) -> str:
        client = authenticate(request, hashes(request), presented)
        if allowed is not None and client not in allowed:
            raise HTTPException(status.HTTP_403_FORBIDDEN, "this key may not do that")
        return client

    return dependency


if __name__ == "__main__":
    import sys

    print(hash_key(sys.argv[1]))
