"""bench-e2e: the whole platform under a steady, seeded load — POST /v1/feedback at a target rate (offered
by scripts.offer, several processes, open loop) to the real services, measuring POST → scored (read back from feedback.scored.v1) and scored → webhook latency,
consumer lag, and CPU and memory per service process.

    python -m benchmarks.e2e [--rate 200] [--seconds 30] [--seed 8]

Writes reports/bench-e2e.{json,md,png}; prints progress every 5 s.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psutil
from aiokafka import AIOKafkaConsumer

from benchmarks.alerting import Receiver
from benchmarks.common import REPORTS, say, write_report
from scripts.harness import CONSUMERS, INGEST_KEY, LagProbe, Platform, forget_alerts, webhook_rules
from scripts.offer import Offered, offer
from shared.contracts.registry import FEEDBACK_RECEIVED, FEEDBACK_SCORED


def percentiles(values: list[float]) -> dict[str, float | None]:
    if len(values) < 2:
        return {"p50_ms": None, "p95_ms": None, "p99_ms": None, "n": len(values)}
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return {"p50_ms": cuts[49] * 1000, "p95_ms": cuts[94] * 1000, "p99_ms": cuts[98] * 1000, "n": len(values)}


class ScoredReader:
    """How many records ingest published to feedback.received (the chart's accepted line while sending),
    and feedback_id → when sentiment published its score: the record's create time, read from the same
    clock as the generator's due times and the receiver's arrivals, not when this reader polled it
    (alerting may page before this reader polls, which made scored → webhook come out negative)."""

    def __init__(self, platform: Platform) -> None:
        self.platform = platform
        self.received = 0
        self.scored: dict[str, float] = {}
        self.stop = asyncio.Event()

    async def run(self) -> None:
        received = self.platform.topic(FEEDBACK_RECEIVED.name)
        consumer = AIOKafkaConsumer(
            received,
            self.platform.topic(FEEDBACK_SCORED.name),
            bootstrap_servers=self.platform.kafka.bootstrap_servers,
            auto_offset_reset="earliest",
            group_id=None,
        )
        await consumer.start()
        try:
            while not self.stop.is_set():
                for records in (await consumer.getmany(timeout_ms=200)).values():
                    for record in records:
                        if record.topic == received:
                            self.received += 1
                        else:
                            feedback_id = json.loads(record.value)["payload"]["feedback_id"]
                            self.scored.setdefault(feedback_id, record.timestamp / 1000)
        finally:
            await consumer.stop()


class Run:
    """What one run saw: when each feedback was posted, answered and scored, and samples per second."""

    def __init__(self, platform: Platform, rate: int, seconds: int, seed: int) -> None:
        self.platform, self.rate, self.seconds, self.seed = platform, rate, seconds, seed
        self.offered: Offered | None = None
        self.reader = ScoredReader(platform)
        """Records ingest published to feedback.received (the chart's accepted line while sending)."""
        self.samples: list[dict[str, Any]] = []
        self.sending = True

    @property
    def scored(self) -> dict[str, float]:
        return self.reader.scored

    @property
    def posted(self) -> dict[str, float]:
        return self.offered.posted if self.offered is not None else {}

    async def send(self) -> None:
        url, run = self.platform.url("ingest"), f"b{self.platform.suffix[2:]}"
        self.offered = await asyncio.to_thread(
            offer, url, INGEST_KEY, self.rate, self.seconds, self.seed, run
        )
        self.sending = False

    async def sample(self, stop: asyncio.Event) -> None:
        processes = {name: psutil.Process(pid) for name, pid in self.platform.pids().items()}
        for process in processes.values():
            process.cpu_percent(None)
        began = time.time()
        async with LagProbe(self.platform) as probe:
            while not stop.is_set():
                await asyncio.sleep(1.0)
                lag = await probe.lag()
                self.samples.append(
                    {
                        "t": round(time.time() - began, 1),
                        "posted": self.reader.received,
                        "scored": len(self.scored),
                        "lag": lag,
                        "cpu_percent": {n: p.cpu_percent(None) for n, p in processes.items()},
                        "rss_mib": {n: p.memory_info().rss / 2**20 for n, p in processes.items()},
                    }
                )
                if len(self.samples) % 5 == 0:
                    say(
                        f"t={self.samples[-1]['t']:.0f}s accepted {self.reader.received} scored {len(self.scored)} "
                        f"lag {lag} {'sending' if self.sending else 'draining'}"
                    )


async def measure(
    platform: Platform, receiver: Receiver, rate: int, seconds: int, seed: int
) -> dict[str, Any]:
    run = Run(platform, rate, seconds, seed)
    stop = asyncio.Event()
    background = [asyncio.create_task(run.reader.run()), asyncio.create_task(run.sample(stop))]
    await run.send()
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not (
        set(run.posted) <= set(run.scored) and run.samples and not any(run.samples[-1]["lag"].values())
    ):
        await asyncio.sleep(0.5)
    await asyncio.sleep(3)  # webhooks of the last alerts
    stop.set()
    run.reader.stop.set()
    await asyncio.gather(*background)
    return summarize(run, receiver)


def summarize(run: Run, receiver: Receiver) -> dict[str, Any]:
    assert run.offered is not None
    to_scored = [run.scored[f] - t for f, t in run.posted.items() if f in run.scored]
    to_webhook = [at - run.scored[f] for f, at in receiver.arrivals.items() if f in run.scored]
    names = list(run.platform.pids())
    busy = run.samples or [{"cpu_percent": {}, "rss_mib": {}, "lag": {}}]
    return {
        "target_rate": run.rate,
        "seconds": run.seconds,
        "posted_per_s": run.offered.offered_per_s,
        "accepted": len(run.posted),
        "status_codes": {str(k): v for k, v in sorted(run.offered.status.items())},
        "generator_cpu_percent": 100 * run.offered.cpu_s / max(run.offered.sending_s, 1e-9),
        "scored": len(set(run.posted) & set(run.scored)),
        "missing_scored": len(set(run.posted) - set(run.scored)),
        "ratio_to_target": len(run.posted) / (run.rate * run.seconds),
        "post_to_scored": percentiles(to_scored),
        "scored_to_webhook": percentiles(to_webhook),
        "max_lag": {n: max(s["lag"].get(n, 0) for s in busy) for n in CONSUMERS},
        "cpu_percent_mean": {n: statistics.fmean(s["cpu_percent"].get(n, 0.0) for s in busy) for n in names},
        "cpu_percent_max": {n: max(s["cpu_percent"].get(n, 0.0) for s in busy) for n in names},
        "rss_mib_max": {n: max(s["rss_mib"].get(n, 0.0) for s in busy) for n in names},
        "samples": run.samples,
    }


def chart(results: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    samples = results["samples"]
    t = [s["t"] for s in samples]
    fig, (top, middle, bottom) = plt.subplots(3, 1, figsize=(9, 9), sharex=True)
    top.plot(t, [s["posted"] for s in samples], label="accepted (published by ingest)")
    top.plot(t, [s["scored"] for s in samples], label="scored")
    top.set_ylabel("feedback (cumulative)")
    top.legend()
    for name in CONSUMERS:
        middle.plot(t, [s["lag"].get(name, 0) for s in samples], label=name)
    middle.set_ylabel("consumer lag (records)")
    middle.legend()
    for name in samples[0]["cpu_percent"] if samples else []:
        bottom.plot(t, [s["cpu_percent"][name] for s in samples], label=name)
    bottom.set_ylabel("CPU %")
    bottom.set_xlabel("seconds")
    bottom.legend()
    fig.suptitle(
        f"bench-e2e: asked {results['target_rate']} feedback/s for {results['seconds']} s, "
        f"offered {results['posted_per_s']:.0f}/s"
    )
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def markdown(r: dict[str, Any]) -> str:
    def ms(p: dict[str, Any], key: str) -> str:
        return "–" if p[key] is None else f"{p[key]:.0f}"

    lines = [
        f"Asked {r['target_rate']} feedback/s for {r['seconds']} s; offered {r['posted_per_s']:.0f}/s "
        f"(load generator: {r['generator_cpu_percent']:.0f} % CPU); "
        f"accepted {r['accepted']} ({r['ratio_to_target']:.2f} of target); status codes {r['status_codes']}; "
        f"scored {r['scored']}, missing {r['missing_scored']}.",
        "",
        "| path | n | p50 ms | p95 ms | p99 ms |",
        "| --- | --- | --- | --- | --- |",
    ]
    for name in ("post_to_scored", "scored_to_webhook"):
        p = r[name]
        lines.append(
            f"| {name.replace('_', ' ')} | {p['n']} | {ms(p, 'p50_ms')} | {ms(p, 'p95_ms')} | {ms(p, 'p99_ms')} |"
        )
    lines += [
        "",
        "| service | CPU % mean | CPU % max | RSS MiB max | max consumer lag |",
        "| --- | --- | --- | --- | --- |",
    ]
    for name in r["cpu_percent_mean"]:
        lag = r["max_lag"].get(name, "–")
        lines.append(
            f"| {name} | {r['cpu_percent_mean'][name]:.0f} | {r['cpu_percent_max'][name]:.0f} | "
            f"{r['rss_mib_max'][name]:.0f} | {lag} |"
        )
    lines += ["", "![throughput, lag and CPU](bench-e2e.png)"]
    return "\n".join(lines)


@contextmanager
def paging_platform(name: str) -> Iterator[tuple[Platform, Receiver]]:
    """Every service started on topics of its own, with alerting paging a local receiver; stopped, its
    topics deleted and its alerts forgotten afterwards."""
    receiver = Receiver()
    with tempfile.TemporaryDirectory() as tmp:
        run = f"-{name}{uuid.uuid4().hex[:6]}"
        rules = webhook_rules(Path(tmp), receiver.url, run)
        platform = Platform(Path(tmp) / "logs", receiver.url, rules, rule_suffix=run)
        asyncio.run(platform.create_topics())
        say(f"starting the services (topics *{platform.suffix})")
        try:
            platform.start()
            yield platform, receiver
        finally:
            platform.stop()
            asyncio.run(platform.delete_topics())
            asyncio.run(forget_alerts(f"%{run}"))
            receiver.server.shutdown()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rate", type=int, default=200)
    parser.add_argument("--seconds", type=int, default=30)
    parser.add_argument("--seed", type=int, default=8)
    args = parser.parse_args()
    with paging_platform("bench") as (platform, receiver):
        say(f"posting {args.rate} feedback/s for {args.seconds} s (seed {args.seed})")
        results = asyncio.run(measure(platform, receiver, args.rate, args.seconds, args.seed))
    REPORTS.mkdir(exist_ok=True)
    chart(results, REPORTS / "bench-e2e.png")
    path = write_report("bench-e2e", results, markdown(results))
    say(f"report: {path}")
    print(markdown(results))


if __name__ == "__main__":
    main()
