"""An address that keeps presenting wrong keys is locked out (429 with Retry-After), the right key
included, on the served services with their real broker and database; other addresses carry on."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from services.loyalty.app import create_app as create_loyalty
from services.loyalty.config import LoyaltySettings
from shared.settings import DEV_LOYALTY_KEY, DEV_OPERATOR_KEY
from tests.integration.alerting_helpers import Clock, alerting_app, rules_file

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("topics")]
GUESSER = ("192.0.2.66", 40000)
NEIGHBOUR = ("192.0.2.67", 40000)


def from_address(app: Any, address: tuple[str, int], base_url: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=address), base_url=base_url)


async def test_the_eleventh_wrong_loyalty_key_gets_429_and_the_right_one_waits_too(kafka_settings):
    group = f"loyalty-{uuid.uuid4().hex[:8]}"
    app = create_loyalty(LoyaltySettings(kafka=kafka_settings, consumer_group=group, relay_outbox=False))
    path = "/v1/members/M-nobody"
    async with app.router.lifespan_context(app), from_address(app, GUESSER, "http://loyalty") as guesser:
        codes = [(await guesser.get(path, headers={"X-API-Key": f"g{i}"})).status_code for i in range(11)]
        assert codes == [401] * 10 + [429]
        locked = await guesser.get(path, headers={"X-API-Key": DEV_LOYALTY_KEY})
        assert locked.status_code == 429
        assert int(locked.headers["retry-after"]) > 0
        async with from_address(app, NEIGHBOUR, "http://loyalty") as neighbour:
            assert (await neighbour.get(path, headers={"X-API-Key": DEV_LOYALTY_KEY})).status_code == 404


async def test_console_sign_in_and_operator_key_share_one_lock_out(kafka_settings, tmp_path):
    rules, _ = rules_file(tmp_path, "http://127.0.0.1:9")
    async with alerting_app(kafka_settings, rules, Clock()) as (app, _):
        async with from_address(app, GUESSER, "http://alerting") as guesser:
            for i in range(6):
                wrong = await guesser.post("/console/session", json={"key": f"g{i}", "name": "eve"})
                assert wrong.status_code == 401
            for i in range(4):
                assert (await guesser.get("/v1/alerts", headers={"X-API-Key": f"h{i}"})).status_code == 401
            right = {"key": DEV_OPERATOR_KEY, "name": "eve"}
            signed = await guesser.post("/console/session", json=right)
            assert signed.status_code == 429
            assert "set-cookie" not in signed.headers
            assert (
                await guesser.get("/v1/alerts", headers={"X-API-Key": DEV_OPERATOR_KEY})
            ).status_code == 429
        async with from_address(app, NEIGHBOUR, "http://alerting") as neighbour:
            assert (await neighbour.post("/console/session", json=right)).status_code == 200
