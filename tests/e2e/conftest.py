"""The four real services as subprocesses on private ports and topics, and a webhook sink, per module."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from scripts.harness import Platform, forget_alerts
from tests.conftest import _require_broker
from tests.integration.alerting_helpers import Receiver, rules_file


@pytest.fixture(scope="module")
def sink() -> Iterator[Receiver]:
    receiver = Receiver().start()
    yield receiver
    receiver.stop()


@pytest.fixture(scope="module")
async def platform(tmp_path_factory: pytest.TempPathFactory, sink: Receiver) -> AsyncIterator[Platform]:
    """Started once per module: each service ready (/readyz 200) on topics of its own; stopped after.

    Alert rules are the project's, with ids suffixed by `platform.rule_suffix` and every target paging
    the sink by webhook."""
    _require_broker()
    home = tmp_path_factory.mktemp("e2e")
    rules, suffix = rules_file(home, sink.url)
    platform = Platform(home / "logs", sink.url, rules, rule_suffix=f"-{suffix}")
    await platform.create_topics()
    try:
        await asyncio.to_thread(platform.start)
        yield platform
    finally:
        await asyncio.to_thread(platform.stop)
        await platform.delete_topics()
        await forget_alerts(f"%-{suffix}")


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=30) as client:
        yield client
