"""The load generator offers what it was asked: every scheduled request goes out once, from each of its
processes, with bodies of the seeded mix, and what came back is counted per status."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from scripts.offer import offer


class Sink:
    """Answers 202 with a feedback id for even-numbered requests and 503 for odd ones, keeping bodies."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        sink = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                assert self.headers["X-API-Key"] == "k"
                with sink.lock:
                    sink.bodies.append(body)
                    number = len(sink.bodies)
                accepted = number % 2 == 0
                answer = (
                    json.dumps({"feedback_id": f"id-{body['external_id']}"}).encode() if accepted else b"{}"
                )
                self.send_response(202 if accepted else 503)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"


@pytest.fixture
def sink() -> Iterator[Sink]:
    server = Sink()
    thread = threading.Thread(target=server.server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.server.shutdown()


def test_every_scheduled_request_goes_out_once_and_each_answer_is_counted(sink: Sink) -> None:
    result = offer(sink.url, {"X-API-Key": "k"}, rate=40, seconds=2, seed=3, run="t", processes=2)
    assert result.sent == len(sink.bodies) == 80
    assert len({body["external_id"] for body in sink.bodies}) == 80
    assert {body["external_id"].split("-")[1] for body in sink.bodies} == {"p0", "p1"}
    assert result.status == {202: 40, 503: 40}
    assert len(result.posted) == 40
    assert all(feedback_id.startswith("id-t-p") for feedback_id in result.posted)
    assert result.sending_s > 0
    assert result.offered_per_s == result.sent / result.sending_s
