"""Wrong keys lock an address out on ingest's fast lane as on the middleware stack: the same 429 with
Retry-After, for the direct routes and the others alike (one count per service)."""

from __future__ import annotations

import httpx

from services.ingest.app import create_app
from services.ingest.config import IngestSettings
from services.ingest.fastlane import ServiceApp
from shared.settings import DEV_INGEST_KEY

FEEDBACK = {"channel": "web", "text": "fine", "occurred_at": "2026-11-20T09:00:00Z"}


async def guess_eleven_times(app: ServiceApp) -> list[httpx.Response]:
    transport = httpx.ASGITransport(app=app, client=("198.51.100.9", 5000))
    async with httpx.AsyncClient(transport=transport, base_url="http://ingest") as http:
        answers = [
            await http.post("/v1/feedback", json=FEEDBACK, headers={"X-API-Key": f"guess-{i}"})
            for i in range(11)
        ]
        right = {"X-API-Key": DEV_INGEST_KEY}
        answers.append(await http.post("/v1/feedback", json=FEEDBACK, headers=right))
        answers.append(await http.post("/v1/events", json={}, headers=right))  # a route the lane leaves alone
    return answers


async def test_the_fast_lane_locks_a_guessing_address_out_exactly_as_the_stack_does():
    lane, stack = (create_app(IngestSettings(prepare_workers=0)) for _ in range(2))
    assert isinstance(lane, ServiceApp)
    assert isinstance(stack, ServiceApp)
    assert ("POST", "/v1/feedback") in lane._open_lanes()
    stack._lanes = {}  # closed: every request takes the middleware stack
    by_lane, by_stack = await guess_eleven_times(lane), await guess_eleven_times(stack)
    assert [r.status_code for r in by_lane] == [401] * 10 + [429] * 3
    for one, other in zip(by_lane, by_stack, strict=True):
        assert (one.status_code, one.json()) == (other.status_code, other.json())
        assert one.headers.get("retry-after") == other.headers.get("retry-after")
        assert one.headers.get("www-authenticate") == other.headers.get("www-authenticate")
    assert int(by_lane[-1].headers["retry-after"]) > 0
