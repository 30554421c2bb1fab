"""Log hygiene: a library repeating the same error is let through once per window, with a count."""

from __future__ import annotations

import json
import logging

from shared.observability.logging import RepeatFilter, configure_logging


def test_repeated_library_messages_pass_once_per_window_with_the_count_held_back():
    now = [0.0]
    repeats = RepeatFilter(("aiokafka",), window_s=10, clock=lambda: now[0])

    def record(name: str, msg: str) -> logging.LogRecord:
        return logging.LogRecord(name, logging.ERROR, __file__, 1, msg, None, None)

    passed = [repeats.filter(record("aiokafka", "Unable to update metadata")) for _ in range(1000)]
    assert passed.count(True) == 1
    assert repeats.filter(record("aiokafka", "another message"))
    assert all(repeats.filter(record("services.ingest", "ours")) for _ in range(3)), "own logs untouched"
    now[0] = 10.5
    later = record("aiokafka", "Unable to update metadata")
    assert repeats.filter(later)
    assert later.suppressed == 999  # type: ignore[attr-defined]  # set by the filter


def test_the_json_line_carries_the_suppressed_count(capsys):
    configure_logging("tests", "INFO")
    try:
        for _ in range(5):
            logging.getLogger("aiokafka").error("Unable connect to node")
        lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.strip()]
        assert [line["event"] for line in lines] == ["Unable connect to node"]
        repeats = logging.getLogger().handlers[0].filters[0]
        assert isinstance(repeats, RepeatFilter)
        repeats.window_s = 0.0
        logging.getLogger("aiokafka").error("Unable connect to node")
        (line,) = [json.loads(x) for x in capsys.readouterr().out.splitlines() if x.strip()]
        assert line["suppressed"] == 4
        assert line["service"] == "tests"
    finally:
        logging.getLogger().handlers[:] = []


def _access(path: str) -> None:
    # uvicorn's access record: (client address, method, full path, HTTP version, status)
    logging.getLogger("uvicorn.access").info(
        '%s - "%s %s HTTP/%s" %d', "127.0.0.1:5000", "GET", path, "1.1", 200
    )


def test_scrapes_and_probes_are_debug_lines_and_other_requests_stay_at_info(capsys):
    configure_logging("tests", "INFO")
    access = logging.getLogger("uvicorn.access")
    # An in-process uvicorn in an earlier test may have set the logger's own level or disabled it.
    level, disabled = access.level, access.disabled
    access.setLevel(logging.NOTSET)
    access.disabled = False
    try:
        for path in ("/metrics", "/readyz", "/healthz?verbose=1", "/v1/alerts", "/v1/members/m-1"):
            _access(path)
        lines = [json.loads(x) for x in capsys.readouterr().out.splitlines() if x.strip()]
        assert [line["event"].split(" ")[3] for line in lines] == ["/v1/alerts", "/v1/members/m-1"]
        assert {line["level"] for line in lines} == {"info"}
        configure_logging("tests", "DEBUG")
        _access("/readyz")
        (line,) = [json.loads(x) for x in capsys.readouterr().out.splitlines() if x.strip()]
        assert line["level"] == "debug"
        assert "/readyz" in line["event"]
    finally:
        logging.getLogger().handlers[:] = []
        logging.getLogger().setLevel(logging.WARNING)
        access.setLevel(level)
        access.disabled = disabled
