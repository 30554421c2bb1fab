"""SSRF guard of outgoing webhooks: a destination must be a public address unless allow-listed, and the
connection goes to the very address that was checked.

A host name is resolved once, by GuardedResolver in the HTTP client's connector: every address it
resolves to must pass, and aiohttp connects to those addresses only, so no second lookup exists for a
DNS rebinding to answer with 127.0.0.1. Certificate verification, SNI and the Host header still use the
URL's host name (aiohttp takes them from the URL, not from the address). aiohttp connects to an address
written in the URL without resolving it: `check_url` checks those before the request.
"""

from __future__ import annotations

import functools
import ipaddress
import socket
import weakref
from collections.abc import Sequence
from urllib.parse import urlsplit

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import ThreadedResolver

Address = ipaddress.IPv4Address | ipaddress.IPv6Address

TRANSLATED = tuple(
    ipaddress.ip_network(network)
    for network in (
        "::ffff:0:0/96",  # IPv4-mapped
        "::/96",  # IPv4-compatible (deprecated; holds :: and ::1 too)
        "64:ff9b::/96",  # NAT64, well-known prefix: a gateway connects to the IPv4 address inside
        "64:ff9b:1::/48",  # NAT64, local use
        "2001::/32",  # Teredo
        "2002::/16",  # 6to4
    )
)
"""IPv6 forms that carry an IPv4 address some translator reaches on our behalf: refused whatever they
embed (Python 3.11 calls several of them global, e.g. 2002:7f00:1:: for 127.0.0.1)."""
NOT_GLOBAL = tuple(ipaddress.ip_network(network) for network in ("192.0.0.0/24", "3fff::/20", "5f00::/16"))
"""Not globally reachable in IANA's registries, but global for Python 3.11's `is_global` (IETF protocol
assignments, IPv6 documentation, segment routing): newer Pythons know them."""


class DestinationRefused(Exception):
    """A webhook destination the guard refuses (a DeliveryError once it reaches the delivery log)."""


class Allowed:
    """ALERTING_WEBHOOK_ALLOW: host names, addresses and CIDRs a webhook may reach although not public."""

    def __init__(self, entries: Sequence[str]) -> None:
        networks, names = [], []
        for entry in entries:
            try:
                networks.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                names.append(entry.lower().rstrip("."))
        self.networks, self.names = tuple(networks), frozenset(names)

    @staticmethod
    @functools.lru_cache(maxsize=16)
    def of(entries: tuple[str, ...]) -> Allowed:
        """The parsed list, once per distinct list: a send checks its URL against it every time."""
        return Allowed(entries)

    def name(self, host: str) -> bool:
        return host.lower().rstrip(".") in self.names

    def address(self, ip: Address) -> bool:
        return any(ip in network for network in self.networks)


def non_public(ip: Address) -> bool:
    """Not globally reachable (private, loopback, link-local, carrier-grade NAT 100.64.0.0/10 — Alibaba
    Cloud's metadata service is 100.100.100.200 —, reserved, unspecified…), multicast, or translated."""
    return (
        not ip.is_global
        or ip.is_multicast
        or any(ip in network for network in TRANSLATED)
        or any(ip in network for network in NOT_GLOBAL)
    )


def check_address(host: str, address: str, allowed: Allowed) -> None:
    ip = ipaddress.ip_address(address)
    if non_public(ip) and not allowed.address(ip):
        raise DestinationRefused(
            f"refused {host}: resolves to non-public {ip} (allow-list it in ALERTING_WEBHOOK_ALLOW)"
        )


def check_url(url: str, allowed: Allowed) -> str | None:
    """Refuses anything but http(s), and an address written in the URL unless public or allowed; the host
    name left to check where it is resolved (None for an address)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise DestinationRefused(f"refused {url!r}: only http(s) URLs")
    host = parts.hostname
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return host
    check_address(host, host, allowed)
    return None


async def guard(url: str, allow: Sequence[str]) -> None:
    """Refuses `url` as a send would, resolving its host name to check each address (a send checks the
    addresses it connects to instead: see the module docstring)."""
    allowed = Allowed(allow)
    host = check_url(url, allowed)
    if host is not None and not allowed.name(host):
        resolver = GuardedResolver(allowed)
        try:
            await resolver.resolve(host, urlsplit(url).port or 0, socket.AF_UNSPEC)
        finally:
            await resolver.close()


class GuardedResolver(AbstractResolver):
    """Resolves with `inner` (getaddrinfo by default), then refuses the host unless every address passes
    (or the name is allowed); aiohttp connects only to the addresses returned here."""

    def __init__(self, allowed: Allowed, inner: AbstractResolver | None = None) -> None:
        self.allowed, self.inner = allowed, inner or ThreadedResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        found = await self.inner.resolve(host, port, family)
        if not self.allowed.name(host):
            for result in found:
                check_address(host, result["host"], self.allowed)
        return found

    async def close(self) -> None:
        await self.inner.close()


_GUARDED: weakref.WeakSet[aiohttp.BaseConnector] = weakref.WeakSet()


def guarded_connector(
    allow: Sequence[str], limit: int = 100, limit_per_host: int = 0
) -> aiohttp.TCPConnector:
    """The connector of the session webhooks go through (limits as TCPConnector's: 0 for none)."""
    resolver = GuardedResolver(Allowed(allow))
    connector = aiohttp.TCPConnector(resolver=resolver, limit=limit, limit_per_host=limit_per_host)
    _GUARDED.add(connector)
    return connector


def is_guarded(http: aiohttp.ClientSession) -> bool:
    """Whether `http` resolves through the guard (a session of guarded_connector)."""
    return http.connector in _GUARDED
