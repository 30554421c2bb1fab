"""Structured JSON logs via structlog; context such as event_id is bound with structlog.contextvars."""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable

import structlog


class RepeatFilter(logging.Filter):
    """Lets the same message of the same logger through once per `window_s`; the next one that passes
    carries how many were held back (`suppressed`). While the broker is down aiokafka logs the same
    connection error thousands of times a second: this keeps the log readable and the CPU for work."""

    def __init__(
        self, prefixes: tuple[str, ...], window_s: float = 10.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        super().__init__()
        self.prefixes, self.window_s, self.clock = prefixes, window_s, clock
        self.seen: dict[tuple[str, str], tuple[float, int]] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.name.startswith(self.prefixes):
            return True
        key, now = (record.name, str(record.msg)), self.clock()
        last, held = self.seen.get(key, (float("-inf"), 0))
        if now - last < self.window_s:
            self.seen[key] = (last, held + 1)
            return False
        if len(self.seen) > 1000:
            self.seen.clear()
        self.seen[key] = (now, 0)
        if held:
            record.suppressed = held
        return True


PROBE_PATHS = frozenset({"/metrics", "/healthz", "/readyz", "/livez"})


class ProbeAccessFilter(logging.Filter):
    """Access-log lines of scrapes and health probes are debug records: Prometheus and the orchestrator
    ask every few seconds, and at info they would bury the service's own events."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args if isinstance(record.args, tuple) else ()
        path = str(args[2]).split("?", 1)[0] if len(args) >= 3 else ""
        if path not in PROBE_PATHS:
            return True
        record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        return logging.getLogger().isEnabledFor(logging.DEBUG)


def configure_logging(service: str, level: str = "INFO") -> None:
    """Route structlog and the standard library (uvicorn, aiokafka) to one JSON line per record."""
    shared_processors: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    structlog.configure(
        processors=[*shared_processors, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[*shared_processors, structlog.stdlib.ExtraAdder(allow=("suppressed",))],
        processors=[
            lambda _, __, event: {**event, "service": service},
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(ensure_ascii=False),
        ],
    )
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(formatter)
    handler.addFilter(RepeatFilter(("aiokafka", "kafka")))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    access = logging.getLogger("uvicorn.access")
    access.filters[:] = [f for f in access.filters if not isinstance(f, ProbeAccessFilter)]
    access.addFilter(ProbeAccessFilter())
    for noisy in ("aiokafka", "kafka", "httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
