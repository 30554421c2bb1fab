"""A local mail catcher: the SMTP server `make run` gives the alerting service, so that a page reaches
someone a newcomer can read without configuring any mail relay.

    python -m scripts.mailcatcher --smtp-port 1025 --http-port 8025 --dir .local/mail

Every accepted message is stored as one `.eml` file; a small page lists them (newest first) and shows
each one's HTML and text parts, and `/api/messages` lists them as JSON. Nothing is relayed anywhere.
"""

from __future__ import annotations

import argparse
import asyncio
import html
import itertools
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any, ClassVar

from scripts.infra import LOCAL, say, wait_until
from scripts.prometheus_node import _Daemon

MAIL_DIR = LOCAL / "mail"


def summary(path: Path) -> dict[str, Any]:
    """What the list shows of one stored message."""
    message = read(path)
    return {
        "id": path.stem,
        "from": str(message.get("From", "")),
        "to": str(message.get("To", "")),
        "subject": str(message.get("Subject", "")),
        "date": str(message.get("Date", "")),
        "delivery": str(message.get("X-Feedback-Delivery", "")),
    }


def read(path: Path) -> EmailMessage:
    with path.open("rb") as handle:
        message = BytesParser(policy=policy.default).parse(handle)
    assert isinstance(message, EmailMessage)
    return message


def stored(directory: Path) -> list[Path]:
    """Stored messages, newest first."""
    return sorted(directory.glob("*.eml"), reverse=True)


class Store:
    """aiosmtpd handler: every message accepted is written to `directory`, named by arrival."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.counter = itertools.count()
        directory.mkdir(parents=True, exist_ok=True)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd's hook name
        name = f"{time.time_ns():020d}-{next(self.counter):06d}.eml"
        partial = self.directory / f".{name}"
        partial.write_bytes(envelope.original_content or envelope.content)
        partial.rename(self.directory / name)  # listed only once complete
        return "250 Message accepted for delivery"


def _page(title: str, body: str) -> str:
    return (
        f"<!doctype html><meta charset=utf-8><title>{html.escape(title)}</title>"
        "<style>body{font:14px system-ui;margin:2em}td{padding:.3em .8em;border-bottom:1px solid #ddd}"
        "iframe{width:100%;height:70vh;border:1px solid #ccc}</style>"
        f"<h1>{html.escape(title)}</h1>{body}"
    )


def index_page(directory: Path) -> str:
    rows = "".join(
        f"<tr><td>{html.escape(m['date'])}</td><td>{html.escape(m['to'])}</td>"
        f"<td><a href='/messages/{m['id']}'>{html.escape(m['subject'] or '(no subject)')}</a></td></tr>"
        for m in map(summary, stored(directory))
    )
    return _page(
        "Caught mail",
        f"<p>Pages the local alerting service sent by e-mail (stored under {html.escape(str(directory))}; "
        "nothing is relayed).</p>"
        f"<table><tr><th>date</th><th>to</th><th>subject</th></tr>{rows}</table>",
    )


def message_page(path: Path) -> str:
    message = read(path)
    head = "".join(
        f"<tr><td>{name}</td><td>{html.escape(str(message.get(name, '')))}</td></tr>"
        for name in ("From", "To", "Subject", "Date", "X-Feedback-Delivery")
    )
    parts = []
    rich = message.get_body(preferencelist=("html",))
    if rich is not None:
        # Sandboxed: the message's HTML can neither run scripts nor reach this page.
        parts.append(f"<iframe sandbox srcdoc='{html.escape(rich.get_content(), quote=True)}'></iframe>")
    plain = message.get_body(preferencelist=("plain",))
    if plain is not None:
        parts.append(f"<pre>{html.escape(plain.get_content())}</pre>")
    raw = f"<p><a href='/raw/{path.stem}'>raw message</a> · <a href='/'>all messages</a></p>"
    return _page(str(message.get("Subject", "message")), f"{raw}<table>{head}</table>{''.join(parts)}")


async def serve(smtp_port: int, http_port: int, directory: Path) -> None:
    from aiohttp import web
    from aiosmtpd.controller import Controller

    controller = Controller(Store(directory), hostname="127.0.0.1", port=smtp_port)
    controller.start()

    def found(request: web.Request) -> Path:
        path = directory / f"{request.match_info['id']}.eml"
        if not request.match_info["id"].replace("-", "").isdigit() or not path.exists():
            raise web.HTTPNotFound()
        return path

    async def index(_: web.Request) -> web.Response:
        return web.Response(text=index_page(directory), content_type="text/html")

    async def one(request: web.Request) -> web.Response:
        return web.Response(text=message_page(found(request)), content_type="text/html")

    async def raw(request: web.Request) -> web.Response:
        return web.Response(body=found(request).read_bytes(), content_type="message/rfc822")

    async def listing(_: web.Request) -> web.Response:
        return web.json_response([summary(p) for p in stored(directory)])

    async def ready(_: web.Request) -> web.Response:
        return web.Response(text="ok")

    app = web.Application()
    app.add_routes(
        [
            web.get("/", index),
            web.get("/messages/{id}", one),
            web.get("/raw/{id}", raw),
            web.get("/api/messages", listing),
            web.get("/-/ready", ready),
        ]
    )
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", http_port).start()
    try:
        await asyncio.Event().wait()
    finally:
        controller.stop()
        await runner.cleanup()


@dataclass
class MailCatcherNode(_Daemon):
    """The mail catcher as a background process of a local stack, like Prometheus and Alertmanager."""

    name: ClassVar[str] = "MailCatcher"
    home: Path = MAIL_DIR
    port: int = int(os.environ.get("MAILCATCHER_PORT", "8025"))
    smtp_port: int = int(os.environ.get("MAILCATCHER_SMTP_PORT", "1025"))

    def start(self) -> bool:
        """True if this call started it."""
        if not self._free():
            return False
        log = self.home / "mailcatcher.log"
        say(f"Starting the mail catcher on {self.url} (SMTP 127.0.0.1:{self.smtp_port})")
        argv = [sys.executable, "-m", "scripts.mailcatcher", "--smtp-port", str(self.smtp_port)]
        argv += ["--http-port", str(self.port), "--dir", str(self.home)]
        with log.open("ab") as sink:
            proc = subprocess.Popen(
                argv,
                stdout=sink,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                cwd=Path(__file__).resolve().parents[1],
            )
        self.pid_file.write_text(str(proc.pid))
        wait_until(lambda: proc.poll() is None and self._ready(), 30, self.name, log)
        return True


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--smtp-port", type=int, default=1025)
    parser.add_argument("--http-port", type=int, default=8025)
    parser.add_argument("--dir", type=Path, default=MAIL_DIR)
    args = parser.parse_args()
    print(json.dumps({"smtp": args.smtp_port, "http": args.http_port, "dir": str(args.dir)}), flush=True)
    asyncio.run(serve(args.smtp_port, args.http_port, args.dir))


if __name__ == "__main__":
    main()
