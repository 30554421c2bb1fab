"""The local broker counts as started once this start logged "Kafka Server started", however much it
logged afterwards (a data directory that ran the test suite loads many consumer groups), and not on an
earlier start's line."""

from __future__ import annotations

from pathlib import Path

import pytest

from scripts import infra


class Running:
    def poll(self) -> None:
        return None


def test_started_reads_everything_this_start_logged_and_nothing_before(tmp_path: Path, monkeypatch):
    monkeypatch.setattr(infra, "port_open", lambda port: True)
    node = infra.KafkaNode(home=tmp_path)
    node.log_file.write_text("old run\n[KafkaServer id=1] Kafka Server started\nstopped\n")
    node._log_offset = node.log_file.stat().st_size
    assert not node._started(Running())  # type: ignore[arg-type]
    with node.log_file.open("a") as log:
        log.write("[KafkaServer id=1] Kafka Server started\n")
        log.write("Loaded classic group g with 0 members.\n" * 2000)
    assert node._started(Running())  # type: ignore[arg-type]


def test_a_broker_that_exits_while_starting_is_reported_with_its_log(tmp_path: Path):
    class Exited:
        def poll(self) -> int:
            return 1

    node = infra.KafkaNode(home=tmp_path)
    node.log_file.write_text("ERROR something broke\n")
    with pytest.raises(RuntimeError, match="something broke"):
        node._started(Exited())  # type: ignore[arg-type]
