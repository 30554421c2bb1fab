"""Faults under steady load: each service is SIGKILLed in turn and restarted while seeded feedback and
purchases keep arriving. Afterwards, by id: every request was accepted in the end (a 503 is retried, as
Retry-After asks) and scored under the id it was answered with; no points, alert or page was applied
twice; each service was ready again within 30 s and lag drained."""

from __future__ import annotations

import asyncio

import pytest

from scripts.harness import SERVICES, Platform
from tests.e2e.load import RATE, RECOVERY_S, Load, check_effects_once
from tests.integration.alerting_helpers import Receiver

pytestmark = pytest.mark.integration


async def test_sigkill_of_each_service_in_turn_loses_nothing_and_applies_nothing_twice(
    platform: Platform, sink: Receiver, database
):
    load = Load(platform)
    sending = asyncio.create_task(load.run())
    recovery: dict[str, float] = {}
    try:
        await asyncio.sleep(3)
        for name in SERVICES:
            server = platform.servers[name]
            await asyncio.to_thread(server.kill)
            await asyncio.sleep(1)
            server.spawn()
            recovery[name] = await asyncio.to_thread(server.wait_ready, RECOVERY_S)
            await asyncio.sleep(3)
    finally:
        load.stop.set()
        await sending
    await load.retry_unanswered()
    assert all(seconds < RECOVERY_S for seconds in recovery.values()), recovery
    assert len(load.accepted) > RATE * 10

    await check_effects_once(load, platform, sink, database)
