"""The webhook SSRF guard: only public addresses (or allow-listed ones), checked once, and the request goes
to the address that was checked."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import aiohttp
import pytest
from aiohttp.abc import AbstractResolver, ResolveResult

from services.alerting.config import AlertingSettings
from services.alerting.delivery.channels import DeliveryError, send
from services.alerting.delivery.ssrf import (
    Allowed,
    DestinationRefused,
    GuardedResolver,
    guard,
    guarded_connector,
)
from services.alerting.rules import load_rules

REFUSED = [
    "100.64.0.1",  # carrier-grade NAT
    "100.100.100.200",  # Alibaba Cloud's metadata service, inside carrier-grade NAT
    "2002:7f00:1::1",  # 6to4 of 127.0.0.1
    "2002:a9fe:a9fe::1",  # 6to4 of 169.254.169.254
    "2002:808:808::1",  # 6to4, even of a public address
    "64:ff9b::7f00:1",  # NAT64 of 127.0.0.1
    "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254
    "64:ff9b::808:808",  # NAT64, even of a public address
    "64:ff9b:1::a00:1",  # local-use NAT64
    "2001::1",  # Teredo
    "2001:0:4136:e378:8000:63bf:3fff:fdd2",  # Teredo, a real-looking one
    "::ffff:127.0.0.1",  # IPv4-mapped
    "::ffff:169.254.169.254",
    "::ffff:8.8.8.8",  # IPv4-mapped, even of a public address
    "::127.0.0.1",  # IPv4-compatible
    "::a9fe:a9fe",
    "::1",
    "::",
    "127.0.0.1",
    "10.1.2.3",
    "172.16.0.1",
    "192.168.1.1",
    "169.254.169.254",
    "0.0.0.0",
    "192.0.0.8",  # IETF protocol assignments (Python 3.11 calls it global)
    "3fff::1",  # IPv6 documentation (2024)
    "198.18.0.1",
    "240.0.0.1",
    "255.255.255.255",
    "224.0.0.1",  # multicast (Python calls it global)
    "fe80::1",
    "fc00::1",
    "ff0e::1",
]
PUBLIC = ["93.184.215.14", "8.8.8.8", "2606:4700:4700::1111"]


def url_of(address: str) -> str:
    return f"http://[{address}]/hook" if ":" in address else f"http://{address}/hook"


class FixedResolver(AbstractResolver):
    """Answers every name with `addresses`, in order."""

    def __init__(self, *addresses: str) -> None:
        self.addresses = addresses

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        return [
            {
                "hostname": host,
                "host": address,
                "port": port,
                "family": socket.AF_INET6 if ":" in address else socket.AF_INET,
                "proto": 0,
                "flags": 0,
            }
            for address in self.addresses
        ]

    async def close(self) -> None:
        return None


async def refused(address: str, allow: list[str] | None = None) -> tuple[bool, bool]:
    """Whether the guard refuses `address` (written in the URL, resolved from a name) under `allow`."""
    written = resolved = False
    try:
        await guard(url_of(address), allow or [])
    except DestinationRefused:
        written = True
    resolver = GuardedResolver(Allowed(allow or []), FixedResolver("93.184.215.14", address))
    try:
        await resolver.resolve("hooks.example.com", 443)
    except DestinationRefused as exc:
        resolved = str(exc).startswith("refused hooks.example.com: resolves to non-public")
    return written, resolved


async def test_only_public_or_allow_listed_addresses_pass_written_in_the_url_or_resolved():
    let_through = [address for address in REFUSED if await refused(address) != (True, True)]
    assert let_through == []
    assert [address for address in PUBLIC if await refused(address) != (False, False)] == []
    assert await refused("100.100.100.200", ["100.64.0.0/10"]) == (False, False)
    assert await refused("::ffff:10.0.0.1", ["::ffff:10.0.0.0/104"]) == (False, False)
    by_name = GuardedResolver(Allowed(["Alertmanager.monitoring.svc"]), FixedResolver("10.0.0.7"))
    assert [r["host"] for r in await by_name.resolve("alertmanager.monitoring.svc", 9093)] == ["10.0.0.7"]
    with pytest.raises(DestinationRefused):
        await by_name.resolve("other.monitoring.svc", 9093)


class Recorder(BaseHTTPRequestHandler):
    seen: list[str]

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.seen.append(self.headers["Host"])
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        return


def serve(host: str, port: int) -> tuple[ThreadingHTTPServer, list[str]]:
    seen: list[str] = []
    server = ThreadingHTTPServer((host, port), type("Handler", (Recorder,), {"seen": seen}))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, seen


@pytest.fixture
def two_servers() -> Iterator[tuple[int, list[str], list[str]]]:
    """The same port on 127.0.0.2 (the checked address) and on 127.0.0.1 (where a rebinding points)."""
    checked, checked_seen = serve("127.0.0.2", 0)
    port = checked.server_address[1]
    rebound, rebound_seen = serve("127.0.0.1", port)
    yield port, checked_seen, rebound_seen
    checked.shutdown()
    rebound.shutdown()


async def test_a_rebinding_name_reaches_only_the_address_that_was_checked(two_servers, monkeypatch):
    """DNS answers 127.0.0.2 (allow-listed) first and 127.0.0.1 (not allowed) afterwards: a guard that
    resolves on its own and lets the client resolve again would send the webhook to 127.0.0.1."""
    port, checked_seen, rebound_seen = two_servers
    loop = asyncio.get_running_loop()
    answers = iter(["127.0.0.2"] + ["127.0.0.1"] * 10)
    real = loop.getaddrinfo

    async def rebinding(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host != "hooks.rebind.test":
            return await real(host, port, *args, **kwargs)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (next(answers), port))]

    monkeypatch.setattr(loop, "getaddrinfo", rebinding)
    settings = AlertingSettings(
        webhook_url=f"http://hooks.rebind.test:{port}/hook", webhook_allow=["127.0.0.2/32"]
    )
    config = load_rules().model_copy(update={"contacts": {}})
    payload = {"transition": "fired", "alert": {}}
    async with aiohttp.ClientSession(connector=guarded_connector(settings.webhook_allow)) as http:
        await send("webhook", "ops", payload, config, settings, http)
    assert checked_seen == [f"hooks.rebind.test:{port}"]  # the Host header names the URL's host
    assert rebound_seen == []


async def test_a_session_without_the_guard_is_refused():
    settings = AlertingSettings(webhook_url="http://93.184.215.14/hook")
    config = load_rules().model_copy(update={"contacts": {}})
    async with aiohttp.ClientSession() as http:
        with pytest.raises(DeliveryError, match="no SSRF guard"):
            await send("webhook", "ops", {"transition": "fired", "alert": {}}, config, settings, http)
