"""bench-capacity: the highest sustained feedback rate at which POST /v1/feedback → scored (read back from
feedback.scored.v1) stays within the latency objective (p95 ≤ 1 s), with each service's CPU at that rate.

    python -m benchmarks.capacity [--start 50] [--seconds 30] [--objective-ms 1000] [--seed 8]

The five services run as `make up` runs them (scripts.harness.Platform), with alerting paging a local
receiver. Each step offers one rate for `--seconds` (scripts.offer: several processes, open loop)
and waits until everything it accepted is scored. A step holds when every POST was answered 202, all
of them were scored, the offered rate reached 95 % of the asked one and POST → scored p95 met the
objective. Rates double from `--start` until a step fails, then bisect between the last step that held
and the first that failed, to within 10 %. A step that failed because the generator could not offer the
rate says so: then the capacity found is a lower bound.

Writes reports/bench-capacity.{json,md}.
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from dataclasses import dataclass
from typing import Any

import psutil

from benchmarks.common import say, write_report
from benchmarks.e2e import ScoredReader, paging_platform, percentiles
from scripts.harness import INGEST_KEY, LagProbe, Platform
from scripts.offer import DEFAULT_PROCESSES, Offered, offer, start_delay

OFFERED_ENOUGH = 0.95
"""The share of the asked rate a step must have offered to count as run at that rate."""
DRAIN_S = 60.0
RESOLUTION = 0.10


@dataclass
class Step:
    asked: int
    offered: Offered
    scored: dict[str, float]
    cpu_percent: dict[str, float]

    def report(self, objective_ms: float) -> dict[str, Any]:
        posted = self.offered.posted
        latencies = [self.scored[f] - t for f, t in posted.items() if f in self.scored]
        p = percentiles(latencies)
        accepted = self.offered.status.get(202, 0)
        reasons = []
        if accepted != self.offered.sent:
            reasons.append(f"{self.offered.sent - accepted} of {self.offered.sent} not answered 202")
        if len(latencies) != len(posted):
            reasons.append(f"{len(posted) - len(latencies)} accepted but not scored within {DRAIN_S:.0f} s")
        offered_share = self.offered.offered_per_s / self.asked
        if offered_share < OFFERED_ENOUGH:
            reasons.append(f"generator offered only {offered_share:.0%} of the asked rate")
        if p["p95_ms"] is None or p["p95_ms"] > objective_ms:
            reasons.append("p95 over the objective")
        return {
            "asked_per_s": self.asked,
            "offered_per_s": round(self.offered.offered_per_s, 1),
            "sent": self.offered.sent,
            "status_codes": {str(k): v for k, v in sorted(self.offered.status.items())},
            "scored": len(latencies),
            "post_to_scored": p,
            "cpu_percent": {k: round(v, 1) for k, v in self.cpu_percent.items()},
            "generator_cpu_percent": round(100 * self.offered.cpu_s / max(self.offered.sending_s, 1e-9), 1),
            "held": not reasons,
            "generator_limited": offered_share < OFFERED_ENOUGH,
            "why_not": reasons,
        }


def cpu_seconds(processes: dict[str, psutil.Process]) -> dict[str, float]:
    times = {name: p.cpu_times() for name, p in processes.items()}
    return {name: t.user + t.system for name, t in times.items()}


async def run_step(
    platform: Platform, reader: ScoredReader, rate: int, seconds: int, seed: int, processes: int
) -> Step:
    procs: dict[str, psutil.Process] = {name: psutil.Process(pid) for name, pid in platform.pids().items()}
    run, start_at = f"cap{uuid.uuid4().hex[:6]}", time.time() + start_delay(processes)
    offering = asyncio.create_task(
        asyncio.to_thread(
            offer, platform.url("ingest"), INGEST_KEY, rate, seconds, seed, run, processes, start_at=start_at
        )
    )
    # Services' CPU from the first request due to the last answer (not while the generator starts).
    await asyncio.sleep(max(0.0, start_at - time.time()))
    before, began = cpu_seconds(procs), time.monotonic()
    offered = await offering
    elapsed = time.monotonic() - began
    after = cpu_seconds(procs)
    cpu = {name: 100 * (after[name] - before[name]) / elapsed for name in procs}
    deadline = time.monotonic() + DRAIN_S
    while time.monotonic() < deadline and not set(offered.posted) <= set(reader.scored):
        await asyncio.sleep(0.25)
    scored = dict(reader.scored)
    # Every consumer caught up before the next step, so no step starts with the last one's backlog.
    async with LagProbe(platform) as probe:
        while time.monotonic() < deadline + DRAIN_S and any((await probe.lag()).values()):
            await asyncio.sleep(0.5)
    return Step(rate, offered, scored, cpu)


async def search(
    platform: Platform, start: int, seconds: int, objective_ms: float, seed: int, processes: int
) -> list[dict[str, Any]]:
    reader = ScoredReader(platform)
    reading = asyncio.create_task(reader.run())
    steps: list[dict[str, Any]] = []
    held: int | None = None
    failed: int | None = None
    rate = start
    try:
        while True:
            say(f"offering {rate} feedback/s for {seconds} s")
            step = (await run_step(platform, reader, rate, seconds, seed + len(steps), processes)).report(
                objective_ms
            )
            steps.append(step)
            p95 = step["post_to_scored"]["p95_ms"]
            say(
                f"  offered {step['offered_per_s']}/s, scored {step['scored']}/{step['sent']}, "
                f"p95 {'–' if p95 is None else f'{p95:.0f} ms'}: {'held' if step['held'] else step['why_not']}"
            )
            if step["held"]:
                held = rate
            else:
                failed = rate
            if failed is None:
                rate *= 2
            elif held is None:
                if rate <= 5:
                    break
                rate = max(1, rate // 2)
            elif (failed - held) / held <= RESOLUTION:
                break
            else:
                rate = (held + failed) // 2
            if any(s["asked_per_s"] == rate for s in steps):
                break
    finally:
        reader.stop.set()
        await reading
    return steps


def summary(steps: list[dict[str, Any]], objective_ms: float, seconds: int, processes: int) -> dict[str, Any]:
    held = [s for s in steps if s["held"]]
    best = max(held, key=lambda s: s["asked_per_s"]) if held else None
    failed_above = [
        s for s in steps if not s["held"] and (best is None or s["asked_per_s"] > best["asked_per_s"])
    ]
    lowest_failure = min(failed_above, key=lambda s: s["asked_per_s"]) if failed_above else None
    return {
        "objective_p95_ms": objective_ms,
        "step_seconds": seconds,
        "generator_processes": processes,
        "capacity_per_s": best["offered_per_s"] if best else None,
        "capacity_asked_per_s": best["asked_per_s"] if best else None,
        "at_capacity": best,
        "first_failure_above": lowest_failure,
        "lower_bound_only": bool(lowest_failure and lowest_failure["generator_limited"]),
        "steps": steps,
    }


def markdown(r: dict[str, Any]) -> str:
    def ms(step: dict[str, Any], key: str) -> str:
        value = step["post_to_scored"][key]
        return "–" if value is None else f"{value:.0f}"

    best = r["at_capacity"]
    if best is None:
        head = f"No step held POST → scored p95 ≤ {r['objective_p95_ms']:.0f} ms."
    else:
        head = (
            f"**Capacity: {r['capacity_per_s']:.0f} feedback/s sustained** (asked {best['asked_per_s']}/s "
            f"for {r['step_seconds']} s) with POST → scored p95 {best['post_to_scored']['p95_ms']:.0f} ms "
            f"(objective ≤ {r['objective_p95_ms']:.0f} ms)."
        )
        failure = r["first_failure_above"]
        if failure is not None:
            head += f" At {failure['asked_per_s']}/s asked: {'; '.join(failure['why_not'])}."
        if r["lower_bound_only"]:
            head += " The generator was the limit there, so this is a lower bound."
    lines = [
        head,
        "",
        f"Load: scripts.offer, {r['generator_processes']} processes, open loop, the seeded feedback mix "
        "(zh and en, every channel).",
        "",
        "| asked /s | offered /s | 202 | scored | p50 ms | p95 ms | p99 ms | held |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for s in r["steps"]:
        lines.append(
            f"| {s['asked_per_s']} | {s['offered_per_s']:.0f} | {s['status_codes'].get('202', 0)}/{s['sent']} | "
            f"{s['scored']} | {ms(s, 'p50_ms')} | {ms(s, 'p95_ms')} | {ms(s, 'p99_ms')} | "
            f"{'yes' if s['held'] else 'no: ' + '; '.join(s['why_not'])} |"
        )
    if best is not None:
        lines += [
            "",
            f"CPU at capacity ({best['offered_per_s']:.0f}/s), % of one core over the sending period:",
            "",
        ]
        lines += ["| process | CPU % |", "| --- | --- |"]
        for name, value in best["cpu_percent"].items():
            lines.append(f"| {name} | {value:.0f} |")
        lines.append(f"| load generator (all processes) | {best['generator_cpu_percent']:.0f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--start", type=int, default=50)
    parser.add_argument("--seconds", type=int, default=30)
    parser.add_argument("--objective-ms", type=float, default=1000.0)
    parser.add_argument("--seed", type=int, default=8)
    parser.add_argument("--processes", type=int, default=DEFAULT_PROCESSES)
    args = parser.parse_args()
    with paging_platform("cap") as (platform, _):
        steps = asyncio.run(
            search(platform, args.start, args.seconds, args.objective_ms, args.seed, args.processes)
        )
    results = summary(steps, args.objective_ms, args.seconds, args.processes)
    path = write_report("bench-capacity", results, markdown(results))
    say(f"report: {path}")
    print(markdown(results))


if __name__ == "__main__":
    main()
