"""Property tests of the event decoder: whatever bytes arrive, `decode` either returns an envelope or raises
InvalidMessage (which sends the record to the DLQ) — never another exception that would stall a consumer."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.contracts.codec import MAX_MESSAGE_BYTES, InvalidMessage, decode
from shared.contracts.envelope import EnvelopeEncoder
from shared.contracts.registry import TOPICS, TopicSpec

EXAMPLES = Path(__file__).resolve().parents[2] / "shared" / "contracts" / "examples"
SPECS = list(TOPICS.values())
EXAMPLE_FILES = [(TOPICS[path.parent.name], path) for path in sorted(EXAMPLES.glob("*/*.json"))]
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=20,
)


def decodes_or_is_invalid(spec: TopicSpec, value: bytes) -> bool:
    """True when decoded, False when refused as InvalidMessage; anything else propagates and fails."""
    try:
        decode(spec, value)
    except InvalidMessage as exc:
        reason = str(exc)
    else:
        return True
    assert reason, "an InvalidMessage says why"
    return False


def example(path: Path) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(path.read_text())
    return doc


@FUZZ
@given(spec=st.sampled_from(SPECS), value=st.binary(max_size=300))
def test_arbitrary_bytes_are_refused_as_invalid_messages(spec: TopicSpec, value: bytes) -> None:
    assert decodes_or_is_invalid(spec, value) is False


@FUZZ
@given(spec=st.sampled_from(SPECS), doc=json_values)
def test_arbitrary_json_never_raises_anything_but_invalid_message(spec: TopicSpec, doc: Any) -> None:
    assert decodes_or_is_invalid(spec, json.dumps(doc).encode()) is False


@FUZZ
@given(
    case=st.sampled_from(EXAMPLE_FILES),
    field=st.sampled_from(["type", "version", "event_id", "occurred_at", "key", "source", "payload"]),
    junk=json_values,
)
def test_an_example_with_one_envelope_field_replaced_decodes_or_is_invalid(
    case: tuple[TopicSpec, Path], field: str, junk: Any
) -> None:
    spec, path = case
    doc = example(path) | {field: junk}
    decodes_or_is_invalid(spec, json.dumps(doc).encode())


@FUZZ
@given(case=st.sampled_from(EXAMPLE_FILES), data=st.data())
def test_an_example_with_one_payload_field_replaced_or_dropped_decodes_or_is_invalid(
    case: tuple[TopicSpec, Path], data: st.DataObject
) -> None:
    spec, path = case
    doc = example(path)
    field = data.draw(st.sampled_from(sorted(doc["payload"])))
    if data.draw(st.booleans()):
        del doc["payload"][field]
    else:
        doc["payload"][field] = data.draw(json_values)
    decodes_or_is_invalid(spec, json.dumps(doc).encode())


@given(case=st.sampled_from(EXAMPLE_FILES), version=st.integers().filter(lambda v: v != 1))
def test_a_version_no_consumer_knows_is_invalid(case: tuple[TopicSpec, Path], version: int) -> None:
    spec, path = case
    with pytest.raises(InvalidMessage, match=r"^unknown event"):
        decode(spec, json.dumps(example(path) | {"version": version}).encode())


@pytest.mark.parametrize(("spec", "path"), EXAMPLE_FILES, ids=lambda v: getattr(v, "name", ""))
def test_valid_examples_roundtrip_through_encode_and_decode(spec: TopicSpec, path: Path) -> None:
    first = decode(spec, path.read_bytes())
    again = decode(spec, first.to_bytes())
    assert again == first
    assert again.payload == first.payload


def test_an_oversized_record_is_invalid_before_it_is_parsed() -> None:
    spec, path = EXAMPLE_FILES[0]
    doc = example(path)
    doc["payload"]["padding"] = "x" * MAX_MESSAGE_BYTES
    with pytest.raises(InvalidMessage, match="exceeds"):
        decode(spec, json.dumps(doc).encode())


@pytest.mark.parametrize(("spec", "path"), EXAMPLE_FILES, ids=lambda v: getattr(v, "name", ""))
def test_the_envelope_encoder_writes_the_bytes_the_contract_writes(spec: TopicSpec, path: Path) -> None:
    """Hot producers (ingest, loyalty) write envelopes with EnvelopeEncoder; a consumer must not be able
    to tell them from the contract model's own encoding."""
    envelope = decode(spec, path.read_bytes())
    encoder = EnvelopeEncoder(envelope.type, envelope.source, envelope.version, envelope.produced_at)
    value = encoder.value(
        str(envelope.event_id),
        envelope.occurred_at,
        envelope.key,
        envelope.payload.model_dump_json().encode(),
    )
    assert value == envelope.to_bytes()
    assert encoder.headers(str(envelope.event_id)) == envelope.headers()


@FUZZ
@given(source=st.text(min_size=1, max_size=30), key=st.text(min_size=1, max_size=30))
def test_the_envelope_encoder_escapes_source_and_key_as_the_contract_does(source: str, key: str) -> None:
    spec, path = EXAMPLE_FILES[0]
    envelope = decode(spec, path.read_bytes()).model_copy(update={"source": source, "key": key})
    encoder = EnvelopeEncoder(envelope.type, source, envelope.version, envelope.produced_at)
    value = encoder.value(
        str(envelope.event_id), envelope.occurred_at, key, envelope.payload.model_dump_json().encode()
    )
    assert value == envelope.to_bytes()
