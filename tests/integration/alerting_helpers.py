"""A running alerting app on a rules file of the test's own, a virtual clock, and local receivers."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import text

from scripts.harness import webhook_rules
from services.alerting.app import create_app
from services.alerting.config import AlertingSettings
from shared.db.engine import Database
from shared.settings import KafkaSettings

OPERATOR = {"X-API-Key": "dev-operator-key"}


@dataclass
class Clock:
    now: datetime = field(default_factory=lambda: datetime(2026, 11, 20, 9, 0, tzinfo=UTC))

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@dataclass
class Receiver:
    """An HTTP endpoint on 127.0.0.1 that records what it is sent and answers `status`."""

    requests: list[dict[str, Any]] = field(default_factory=list)
    status: int = 200
    answer: bytes = b""
    """The response body (robots answer JSON with an error code)."""
    delay_s: float = 0.0
    """How long it waits before answering (a receiver that times out)."""
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
                time.sleep(receiver.delay_s)
                self.send_response(receiver.status)
                self.send_header("Content-Length", str(len(receiver.answer)))
                self.end_headers()
                self.wfile.write(receiver.answer)

            def log_message(self, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()

    def payloads(self) -> list[dict[str, Any]]:
        return [json.loads(r["body"]) for r in self.requests]


def rules_file(
    directory: Path,
    webhook_url: str,
    resolution_targets: bool = True,
    handoff_notices: bool = False,
    **overrides: Any,
) -> tuple[Path, str]:
    """A rules file whose rule ids are unique to the test; returns (path, suffix)."""
    suffix = uuid.uuid4().hex[:6]
    path = webhook_rules(
        directory, webhook_url, f"-{suffix}", resolution_targets, handoff_notices, **overrides
    )
    return path, suffix


@asynccontextmanager
async def alerting_app(
    kafka: KafkaSettings, rules: Path, clock: Clock, **settings: Any
) -> AsyncIterator[tuple[Any, httpx.AsyncClient]]:
    options: dict[str, Any] = {
        "webhook_allow": ["127.0.0.1"],
        "run_timers": False,
        "notify_interval_s": 0.1,
    } | settings
    options.setdefault("consumer_group", f"alerting-{uuid.uuid4().hex[:8]}")
    config = AlertingSettings(kafka=kafka, rules_path=rules, **options)
    app = create_app(config, clock)
    # Tests share one database: pending deliveries of earlier tests' alerts would reach this receiver.
    database = Database(config.database, "tests")
    async with database.connection() as conn:
        await conn.execute(text("DELETE FROM alerting.deliveries WHERE status = 'pending'"))
    await database.dispose()
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://alerting", headers=OPERATOR
        ) as http,
    ):
        yield app, http
