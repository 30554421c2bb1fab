"""Service processes for tests and benchmarks: a uvicorn server in a subprocess, ready when its URL
answers, killable and restartable on the same port."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from scripts.infra import free_port

ROOT = Path(__file__).resolve().parents[1]


class Server:
    """A uvicorn server in a subprocess with the given app, ready when its URL answers.

    `port`: a free one unless given. `log`, when given, receives the server's output (appended across
    restarts); `kill()` is a SIGKILL and `start()` brings it back on the same port with the same
    environment.
    """

    def __init__(
        self,
        app: str,
        port: int | None = None,
        env: dict[str, str] | None = None,
        ready_path: str = "/healthz",
        log: Path | None = None,
        ready_timeout_s: float = 60.0,
    ) -> None:
        self.app, self.ready_path = app, ready_path
        self.port = free_port() if port is None else port
        self.env = {**os.environ, **(env or {})}
        self.log, self.ready_timeout_s = log, ready_timeout_s
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def ready(self) -> bool:
        try:
            # The URL is this server's own http://127.0.0.1:<port>, never a caller's.
            with urllib.request.urlopen(self.url + self.ready_path, timeout=2) as response:  # noqa: S310
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
