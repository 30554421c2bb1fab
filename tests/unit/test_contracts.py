"""Every event type in the registry has a JSON example, and every example decodes to its model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from shared.contracts import TOPICS, InvalidMessage, decode
from shared.contracts.registry import consumed_by

EXAMPLES = Path(__file__).resolve().parents[2] / "shared" / "contracts" / "examples"
ALL_EVENTS = [(spec, etype) for spec in TOPICS.values() for (etype, _version) in spec.events]


@pytest.mark.parametrize(("spec", "event_type"), ALL_EVENTS, ids=lambda v: getattr(v, "name", v))
def test_every_event_type_has_a_valid_example(spec, event_type):
    raw = (EXAMPLES / spec.name / f"{event_type}.json").read_bytes()
    envelope = decode(spec, raw)
    assert envelope.type == event_type
    assert isinstance(envelope.payload, spec.model_for(event_type, 1))
    assert envelope.key == json.loads(raw)["key"]


def test_no_example_without_a_registered_event_type():
    registered = {(spec.name, etype) for spec, etype in ALL_EVENTS}
    found = {(path.parent.name, path.stem) for path in EXAMPLES.glob("*/*.json")}
    assert found == registered


def test_unknown_fields_are_ignored_so_producers_can_add_fields():
    spec = TOPICS["feedback.received.v1"]
    doc = json.loads((EXAMPLES / spec.name / "feedback.received.json").read_text())
    doc["new_top_level"] = 1
    doc["payload"]["sentiment_hint"] = "new optional field"
    envelope = decode(spec, json.dumps(doc).encode())
    assert not hasattr(envelope.payload, "sentiment_hint")


def test_invalid_payload_names_the_field():
    spec = TOPICS["feedback.received.v1"]
    doc = json.loads((EXAMPLES / spec.name / "feedback.received.json").read_text())
    doc["payload"]["csat"] = 9
    with pytest.raises(InvalidMessage, match=r"payload\.csat"):
        decode(spec, json.dumps(doc).encode())


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (None, "tombstone"),
        (b"\xff\xfe not json", "not JSON"),
        (b"[1, 2]", "JSON object"),
        (b'{"type": "feedback.received", "version": 2, "payload": {}}', "unknown event"),
        (b'{"type": "purchase", "version": 1, "payload": {}}', "unknown event"),
        (b"x" * 1_000_001, "exceeds"),
    ],
)
def test_undecodable_records_are_invalid_with_a_reason(raw, reason):
    with pytest.raises(InvalidMessage, match=reason):
        decode(TOPICS["feedback.received.v1"], raw)


def test_registry_names_dlq_producers_and_consumers_for_every_topic():
    for spec in TOPICS.values():
        assert spec.dlq == f"{spec.name}.dlq"
        assert spec.producers
        assert spec.consumers
        assert spec.partitions >= 1
    assert [spec.name for spec in consumed_by("sentiment")] == ["feedback.received.v1"]


def test_envelope_headers_carry_id_type_and_version():
    spec = TOPICS["commerce.events.v1"]
    envelope = decode(spec, (EXAMPLES / spec.name / "purchase.json").read_bytes())
    headers = dict(envelope.headers())
    assert headers["event_id"] == str(envelope.event_id).encode()
    assert headers["event_type"] == b"purchase"
    assert headers["event_version"] == b"1"
    assert decode(spec, envelope.to_bytes()) == envelope
