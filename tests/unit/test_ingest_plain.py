"""The fast reading of batch bodies (msgspec) accepts only what pydantic accepts, with the same values."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from services.ingest.batches import _ALL_VALID, prepare_batch
from services.ingest.encode import feedback_lot, model_hash
from services.ingest.mask import ALL_KINDS, Masking
from services.ingest.parse import WHITESPACE, PlainFeedback, plain_records  # type: ignore[attr-defined]

KINDS = Masking(frozenset(ALL_KINDS), b"test-key")
NOW = datetime.now(UTC)
TIMES = [
    "2026-11-20T09:30:00+08:00",
    "2026-11-20T09:30:00Z",
    "2026-11-20T09:30:00z",
    "2026-11-20t09:30:00+00:00",
    "2026-11-20 09:30:00-05:30",
    "2026-11-20T09:30:00.5Z",
    "2026-11-20T09:30:00.123456+08:00",
    "2026-11-20T09:30:00+0800",
    (NOW + timedelta(minutes=4)).isoformat(),
    "2000-01-01T00:00:00Z",  # the earliest accepted
    "1999-12-31T23:30:00-01:00",  # 2000 in UTC
]
ODD_TIMES = [
    "2026-11-20_09:30:00Z",
    "2026-11-20T09:30:00.1234567+08:00",
    "2026-11-20T23:59:59.9999999Z",
    "2026-11-20T09:30+08:00",
    "2026-11-20T09:30:00",
    "2026-11-20T09:30:60Z",
    "2026-02-30T09:30:00Z",
    "2026-11-20T09:30:00+24:00",
    "2026-11-20T09:30:00,5Z",
    "2026-11-20",
    (NOW + timedelta(minutes=6)).isoformat(),
    "0001-01-01T00:00:00+00:00",  # before the earliest accepted time
    "1999-12-31T23:59:59Z",
    "2000-01-01T00:30:00+01:00",  # 1999 in UTC
    "9999-12-31T23:59:59-01:00",
    0,  # numbers are not times
    1_700_000_000,
    "1700000000",
]
_PAD = st.sampled_from(["", "", "", " ", "\t", "\n", "\u3000", "\xa0", "\x1f", "\u200b", "\x85"])
_WORD = st.sampled_from(["x", "C1", "客服", "a b", "13812345678", "x@y.com", "e" * 100])
_ODD_WORD = st.sampled_from(["", "é" * 101, "k" * 201, "a\x00b"])


@st.composite
def padded(draw: st.DrawFn, word: st.SearchStrategy[str] = _WORD) -> str:
    return draw(_PAD) + draw(word) + draw(_PAD)


_SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False, allow_infinity=False), st.text()
)
_JSON = st.recursive(
    _SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=6,
)
_PLAIN = {  # valid values, as an integrator would send them
    "external_id": padded(),
    "channel": st.sampled_from(["web", "app", "sms"]),
    "customer_id": padded(),
    "text": st.one_of(padded(), st.text(max_size=30)),
    "csat": st.one_of(st.none(), st.integers(1, 5)),
    "nps": st.one_of(st.none(), st.integers(0, 10)),
    "ces": st.one_of(st.none(), st.integers(1, 7)),
    "stars": st.one_of(st.none(), st.integers(1, 5)),
    "language": st.sampled_from(["zh", "en", "other", None]),
    "business_line": st.one_of(padded(), st.none()),
    "region": padded(),
    "store_id": padded(),
    "product_id": padded(),
    "occurred_at": st.sampled_from(TIMES),
    "metadata": st.dictionaries(st.sampled_from(["k", "note", " pad"]), _JSON, max_size=3),
}
_ODD: dict[str, st.SearchStrategy[Any]] = {  # what pydantic reads differently, refuses or words an error for
    "external_id": padded(_ODD_WORD),
    "channel": st.sampled_from([" web", "fax", None]),
    "text": padded(_ODD_WORD),
    "csat": st.sampled_from([0, 6, "3", 3.0, 2.5, True, 1e20]),
    "language": st.sampled_from(["fr", " zh"]),
    "region": padded(_ODD_WORD),
    "metadata": st.sampled_from([[], "x", {"big": "x" * 9000}, {"n": 1e20}]),
    "occurred_at": st.sampled_from(ODD_TIMES),
    "unknown": st.just(1),
}


@st.composite
def records(draw: st.DrawFn) -> dict[str, Any]:
    """A valid-looking record: the required fields, some optional ones, and now and then one field odd
    or missing."""
    names = ["external_id", "channel", "customer_id", "occurred_at", "text"]
    names += draw(st.sets(st.sampled_from(sorted(set(_PLAIN) - set(names))), max_size=6))
    record: dict[str, Any] = {name: draw(_PLAIN[name]) for name in names}
    if draw(st.integers(0, 3)) == 0:
        name = draw(st.sampled_from(sorted(_ODD)))
        record[name] = draw(_ODD[name])
    if draw(st.integers(0, 9)) == 0:
        del record[draw(st.sampled_from(["external_id", "occurred_at", "channel"]))]
    return record


def pydantic_reading(raw: bytes) -> list[Any] | None:
    try:
        return list(_ALL_VALID.validate_json(raw).records)
    except ValidationError:
        return None


def comparable(lot: Any) -> tuple[Any, ...]:
    """A Lot without what differs by design: proposed ids and the time of production."""
    values = []
    for value, record_id in zip(lot.values, lot.ids, strict=True):
        event = json.loads(value.replace(record_id.encode(), b"ID"))
        event.pop("produced_at")
        values.append(event)
    return lot.external_ids, lot.payload_hashes, lot.keys, lot.channels, lot.pii_masked, values


@settings(max_examples=1500, deadline=None)
@given(st.lists(records(), min_size=1, max_size=3))
def test_a_plain_reading_is_pydantics_reading(batch):
    raw = json.dumps({"records": batch}, ensure_ascii=False).encode()
    plain = plain_records(raw)
    expected = pydantic_reading(raw)
    if plain is None:
        return  # pydantic decides: nothing to compare
    assert expected is not None, f"accepted a body pydantic refuses: {raw!r}"
    for mine, theirs in zip(plain, expected, strict=True):
        assert mine.hash_json() == theirs.__pydantic_serializer__.to_json(theirs)
        for name in type(theirs).model_fields:
            assert getattr(mine, name) == getattr(theirs, name), name
    assert comparable(feedback_lot("pos", plain, KINDS)) == comparable(feedback_lot("pos", expected, KINDS))


def test_everyday_bodies_take_the_plain_reading():
    """Compact and pretty-printed bodies, padded text, metadata: all plainly valid."""
    batch = [
        {
            "external_id": f"e{i}",
            "channel": "app",
            "customer_id": "C1",
            "text": " 包装破损 13812345678\n",
            "csat": 2,
            "occurred_at": "2026-11-20T09:30:00.25+08:00",
            "metadata": {"order": "A1", "amount": 12.5},
        }
        for i in range(3)
    ]
    for raw in (json.dumps({"records": batch}).encode(), json.dumps({"records": batch}, indent=2).encode()):
        plain = plain_records(raw)
        assert plain is not None
        assert [r.text for r in plain] == ["包装破损 13812345678"] * 3
        assert [r.hash_json() for r in plain] == [
            model.__pydantic_serializer__.to_json(model) for model in _ALL_VALID.validate_json(raw).records
        ]


def test_what_only_pydantic_reads_or_words_is_left_to_it():
    base = {"external_id": "e", "channel": "web", "customer_id": "c", "text": "t", "occurred_at": TIMES[0]}
    for change in (
        {"csat": "3"},  # refused (strict), in pydantic's words
        {"external_id": " \u3000 "},  # empty once stripped
        {"text": "", "csat": None},  # neither text nor score
        {"occurred_at": "2026-11-20T09:30:00"},  # no offset
        {"occurred_at": (datetime.now(UTC) + timedelta(minutes=6)).isoformat()},  # too far ahead
        {"occurred_at": "2026-11-20T09:30:00.9999999Z"},  # a seventh digit: rounded vs truncated
        {"metadata": {" k": 1}},
        {"text": "a\u0000b"},
        {"extra": 1},
    ):
        raw = json.dumps({"records": [{**base, **change}]}).encode()
        assert plain_records(raw) is None, change
        lot, _, rejected = prepare_batch("pos", raw, True, KINDS)  # pydantic's reading: each record told
        assert lot.size + len(rejected) == 1


def test_whitespace_is_what_pydantic_strips():
    assert all(_ALL_VALID.validate_json(_body(f"x{c}")).records[0].text == "x" for c in WHITESPACE)
    assert _ALL_VALID.validate_json(_body("x\x1f")).records[0].text == "x\x1f"


def _body(text: str) -> bytes:
    record = {"external_id": "e", "channel": "web", "customer_id": "c", "text": text, "occurred_at": TIMES[0]}
    return json.dumps({"records": [record]}).encode()


def test_model_hash_and_plain_hash_agree():
    raw = _body("hello")
    [plain] = plain_records(raw) or []
    [model] = _ALL_VALID.validate_json(raw).records
    assert isinstance(plain, PlainFeedback)
    assert feedback_lot("pos", [plain], KINDS).payload_hashes == [model_hash("feedback", model)]


OUT_OF_BOUNDS: list[dict[str, Any]] = [
    {"occurred_at": "0001-01-01T00:00:00+00:00"},
    {"occurred_at": "1999-12-31T23:59:59.999999Z"},
    {"occurred_at": "2000-01-01T00:59:59+01:00"},
    {"occurred_at": 0},
    {"occurred_at": "1700000000"},
    {"csat": True},
    {"stars": 1.5},
    {"stars": "1"},
]


def test_out_of_bounds_records_are_refused_by_both_readings():
    base = {"external_id": "e", "channel": "web", "customer_id": "c", "text": "t", "occurred_at": TIMES[0]}
    for change in OUT_OF_BOUNDS:
        raw = json.dumps({"records": [{**base, **change}]}).encode()
        assert plain_records(raw) is None, change
        assert pydantic_reading(raw) is None, change


def test_a_score_spelled_as_an_integral_float_is_left_to_pydantic_which_reads_it_as_an_integer():
    base = {"external_id": "e", "channel": "web", "customer_id": "c", "text": "t", "occurred_at": TIMES[0]}
    raw = json.dumps({"records": [{**base, "stars": 1.0}]}).encode()
    assert plain_records(raw) is None
    assert [record.stars for record in pydantic_reading(raw) or []] == [1]
