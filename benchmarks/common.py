"""Helpers shared by the benchmarks: servers in subprocesses, wrk runs, reports under reports/."""

from __future__ import annotations

import json
import os
import platform
import re
import shutil
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
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


class Server:
    """A uvicorn server in a subprocess with the given app, ready when its URL answers.

    `log`, when given, receives the server's output (appended across restarts); `kill()` is a SIGKILL
    and `start()` brings it back on the same port with the same environment.
    """

    def __init__(
        self,
        app: str,
        port: int,
        env: dict[str, str] | None = None,
        ready_path: str = "/healthz",
        log: Path | None = None,
        ready_timeout_s: float = 60.0,
    ) -> None:
        self.app, self.port, self.ready_path = app, port, ready_path
        self.env = {**os.environ, **(env or {})}
        self.log, self.ready_timeout_s = log, ready_timeout_s
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def ready(self) -> bool:
        try:
            with urllib.request.urlopen(self.url + self.ready_path, timeout=2) as response:
                return bool(response.status == 200)
        except OSError:
            return False

    def spawn(self) -> None:
        """Start the process without waiting for it to be ready."""
        sink = self.log.open("ab") if self.log is not None else subprocess.DEVNULL
        try:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "uvicorn",
                    self.app,
                    "--factory",
                    "--port",
                    str(self.port),
                    "--log-level",
                    "warning",
                    "--no-access-log",
                ],
                cwd=ROOT,
                env=self.env,
                stdout=sink,
                stderr=subprocess.STDOUT if self.log is not None else subprocess.DEVNULL,
            )
        finally:
            if self.log is not None:
                sink.close()  # type: ignore[union-attr]

    def wait_ready(self, timeout_s: float | None = None) -> float:
        """Seconds until the ready path answered 200; RuntimeError if it did not in time or exited."""
        began = time.monotonic()
        deadline = began + (timeout_s or self.ready_timeout_s)
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"{self.app} exited with {self.process.returncode}")
            if self.ready():
                return time.monotonic() - began
            time.sleep(0.2)
        raise RuntimeError(f"{self.app} did not become ready")

    def start(self) -> Server:
        self.spawn()
        try:
            self.wait_ready()
        except RuntimeError:
            self.stop()
            raise
        return self

    def kill(self) -> None:
        """SIGKILL: no drain, no commit, no clean close."""
        if self.process is not None:
            self.process.kill()
            self.process.wait(30)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)

    def __enter__(self) -> Server:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


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
