"""Helpers shared by the benchmarks: servers in subprocesses, wrk runs, reports under reports/."""

from __future__ import annotations

import json
import os
import platform
import re
import shutil
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from scripts.servers import ROOT, Server

__all__ = ["REPORTS", "ROOT", "Server", "ensure_wrk", "machine", "run_wrk", "say", "write_report"]

REPORTS = ROOT / "reports"


def say(message: str) -> None:
    print(f"[bench {datetime.now(UTC):%H:%M:%S}] {message}", flush=True)


def ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    say("installing wrk from Debian packages…")
    sudo = [] if os.geteuid() == 0 else ["sudo"]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run([*sudo, "apt-get", "update", "-q"], check=True, env=env, capture_output=True)
    subprocess.run([*sudo, "apt-get", "install", "-y", "-q", "wrk"], check=True, env=env, capture_output=True)
    return shutil.which("wrk") or "wrk"


@dataclass
class WrkResult:
    requests_per_s: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    non_2xx: int
    errors: int
    requests: int

    def as_dict(self) -> dict[str, Any]:
        return self.__dict__.copy()


def _ms(value: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", value).groups()  # type: ignore[union-attr]
    return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


def run_wrk(
    url: str, script: Path, seconds: int, connections: int, env: dict[str, str] | None = None
) -> WrkResult:
    output = subprocess.run(
        [ensure_wrk(), "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", str(script), url],
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
    ).stdout
    latency = dict(re.findall(r"^\s+(50|90|99)%\s+(\S+)$", output, re.M))
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    requests = re.search(r"(\d+) requests in", output)
    return WrkResult(
        requests_per_s=float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1)),  # type: ignore[union-attr]
        p50_ms=_ms(latency["50"]),
        p90_ms=_ms(latency["90"]),
        p99_ms=_ms(latency["99"]),
        non_2xx=int(non_2xx.group(1)) if non_2xx else 0,
        errors=sum(int(g) for g in errors.groups()) if errors else 0,
        requests=int(requests.group(1)) if requests else 0,
    )


def machine() -> dict[str, Any]:
    return {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
    }


def write_report(name: str, results: dict[str, Any], markdown: str) -> Path:
    REPORTS.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    doc = {"benchmark": name, "at": stamp, "machine": machine(), **results}
    (REPORTS / f"{name}.json").write_text(json.dumps(doc, indent=2))
    path = REPORTS / f"{name}.md"
    path.write_text(f"# {name} — {stamp}\n\nMachine: {doc['machine']}\n\n{markdown}\n")
    return path
