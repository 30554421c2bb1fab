"""An open-loop load generator that offers the asked feedback rate: several processes, each posting its
share of the seeded feedback mix (scripts.loadgen) on a fixed schedule over keep-alive connections.

One Python process with a general-purpose HTTP client could offer only part of a few hundred requests a
second while the services shared its cores, so a run asked for more measured the generator, not the
platform. Bodies are drawn and serialized before the clock starts; a request that falls behind its
schedule goes out at once (open loop: a slow server does not slow the offer down), up to `in_flight` at
a time per process. What each process achieved comes back with it, so a report states the rate offered,
never only the rate asked.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from multiprocessing import get_context
from typing import Any

from scripts.loadgen import LoadGen

DEFAULT_PROCESSES = max(2, min(4, os.cpu_count() or 2))


@dataclass
class Offered:
    """What a run offered and what came back."""

    asked_per_s: float
    seconds: float
    sent: int = 0
    status: dict[int, int] = field(default_factory=dict)
    posted: dict[str, float] = field(default_factory=dict)
    """feedback_id → when its POST was due (epoch seconds, by the schedule), for each 202: latency counted
    from there includes any wait for a free connection (no coordinated omission)."""
    began: float = 0.0
    ended: float = 0.0
    """When the first request went out and the last answer came back."""
    sending_s: float = 0.0
    """From the first request out to the last request out."""
    cpu_s: float = 0.0
    """CPU seconds the generator's processes spent."""

    @property
    def offered_per_s(self) -> float:
        """Requests sent a second over the sending period."""
        return self.sent / self.sending_s if self.sending_s > 0 else 0.0

    def merge(self, share: dict[str, Any]) -> None:
        self.sent += share["sent"]
        for code, count in share["status"].items():
            self.status[int(code)] = self.status.get(int(code), 0) + count
        self.posted.update(share["posted"])
        self.began = min(self.began or share["began"], share["began"])
        self.ended = max(self.ended, share["ended"])
        self.cpu_s += share["cpu_s"]


def offer(
    url: str,
    headers: dict[str, str],
    rate: float,
    seconds: float,
    seed: int,
    run: str,
    processes: int = DEFAULT_PROCESSES,
    in_flight: int = 256,
    start_at: float | None = None,
) -> Offered:
    """POST `rate` feedback a second to `url` + /v1/feedback for `seconds`, split over `processes`,
    from `start_at` (epoch seconds; by default once every process can have started)."""
    result = Offered(asked_per_s=rate, seconds=seconds)
    start_at = start_at or time.time() + start_delay(processes)
    context = get_context("spawn")
    with ProcessPoolExecutor(max_workers=processes, mp_context=context) as pool:
        futures = [
            pool.submit(
                _share,
                Share(url, headers, rate / processes, seconds, seed + i, f"{run}-p{i}", start_at, in_flight),
            )
            for i in range(processes)
        ]
        shares = [f.result() for f in futures]
    last_out = max(s["last_out"] for s in shares)
    for share in shares:
        result.merge(share)
    result.sending_s = last_out - result.began
    return result


def start_delay(processes: int) -> float:
    """Seconds for `processes` to start and draw their bodies before the first request is due."""
    return 2.0 + 0.5 * processes


@dataclass(frozen=True)
class Share:
    """One process's part of the offer."""

    url: str
    headers: dict[str, str]
    rate: float
    seconds: float
    seed: int
    run: str
    start_at: float
    in_flight: int


def _share(share: Share) -> dict[str, Any]:
    return asyncio.run(_post_share(share))


async def _post_share(share: Share) -> dict[str, Any]:
    import aiohttp

    url, headers, rate, in_flight = share.url, share.headers, share.rate, share.in_flight
    load = LoadGen(share.seed, run=share.run)
    count = max(1, round(rate * share.seconds))
    bodies = [json.dumps(load.feedback()).encode() for _ in range(count)]
    status: dict[int, int] = {}
    posted: dict[str, float] = {}
    limit = asyncio.Semaphore(in_flight)
    sent_times: list[float] = []
    connector = aiohttp.TCPConnector(limit=in_flight, force_close=False)
    timeout = aiohttp.ClientTimeout(total=30)
    request_headers = {**headers, "Content-Type": "application/json"}

    async def post(session: aiohttp.ClientSession, body: bytes, due: float) -> None:
        async with limit:
            sent_times.append(time.time())
            try:
                async with session.post(url + "/v1/feedback", data=body, headers=request_headers) as response:
                    answer = await response.read()
                    code = response.status
            except (aiohttp.ClientError, TimeoutError):
                code, answer = 0, b""
            status[code] = status.get(code, 0) + 1
            if code == 202:
                posted[json.loads(answer)["feedback_id"]] = due

    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        await asyncio.sleep(max(0.0, share.start_at - time.time()))
        cpu_before = time.process_time()
        origin, origin_epoch = time.perf_counter(), time.time()
        tasks = []
        for i, body in enumerate(bodies):
            delay = origin + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(post(session, body, origin_epoch + i / rate)))
        await asyncio.gather(*tasks)
    return {
        "sent": len(bodies),
        "status": status,
        "posted": posted,
        "began": min(sent_times),
        "last_out": max(sent_times),
        "ended": time.time(),
        "cpu_s": time.process_time() - cpu_before,
    }
