"""No personal data sent to ingest reaches what it publishes or stores: e-mail addresses, ID numbers, card
and phone numbers, their digits grouped by every separator, in every identifier, metadata key and value,
and text, of feedback (both readings of a body) and of every business event. Checked in the Kafka record
(key, value, headers) and the external_id the ingest table stores."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter

from services.ingest.batches import prepare_batch, prepare_single
from services.ingest.encode import Lot, event_submission, single_lot
from services.ingest.mask import ALL_KINDS, Masking
from services.ingest.schemas import EventIn

MASKING = Masking(frozenset(ALL_KINDS), b"test-key")
SEPARATORS = ["", " ", "-", ".", "/"]
_EVENT = TypeAdapter(EventIn)

Pii = tuple[str, list[str]]
"""Personal data as written, and the forms of it that must appear nowhere (as written, bare)."""


def _digits(count: int) -> st.SearchStrategy[str]:
    return st.text("0123456789", min_size=count, max_size=count)


def _luhn_completed(body: str) -> str:
    total = 0
    for position, char in enumerate(reversed(body)):
        value = int(char) * (2 if position % 2 == 0 else 1)
        total += value - 9 if value > 9 else value
    return body + str(-total % 10)


@st.composite
def mobile(draw: st.DrawFn) -> Pii:
    number = "1" + draw(st.sampled_from("3456789")) + draw(_digits(9))
    sep = draw(st.sampled_from(SEPARATORS))
    prefix = draw(st.sampled_from(["", "+86", "86"]))
    written = (prefix + sep if prefix else "") + sep.join([number[:3], number[3:7], number[7:]])
    return written, [written, number]


@st.composite
def international(draw: st.DrawFn) -> Pii:
    country = draw(st.sampled_from(["1", "44", "49", "852"]))
    groups = draw(st.lists(st.integers(2, 4).flatmap(_digits), min_size=2, max_size=4))
    digits = country + "".join(groups)
    sep = draw(st.sampled_from(SEPARATORS))
    written = "+" + sep.join([country, *groups])
    return (written, [written, digits]) if 8 <= len(digits) <= 15 else draw(mobile())


@st.composite
def card(draw: st.DrawFn) -> Pii:
    length = draw(st.integers(13, 19))
    number = _luhn_completed(draw(st.sampled_from("3456")) + draw(_digits(length - 2)))
    sep = draw(st.sampled_from(SEPARATORS))
    written = sep.join(number[i : i + 4] for i in range(0, length, 4))
    return written, [written, number]


@st.composite
def id_number(draw: st.DrawFn) -> Pii:
    region = draw(st.sampled_from("123456789")) + draw(_digits(5))
    year = draw(st.sampled_from(["19", "20"])) + draw(_digits(2))
    day = f"{draw(st.integers(1, 12)):02d}{draw(st.integers(1, 31)):02d}"
    rest = draw(_digits(3)) + draw(st.sampled_from("0123456789Xx"))
    sep = draw(st.sampled_from(SEPARATORS))
    groups = draw(st.sampled_from([[region, year + day, rest], [region, year, day, rest]]))
    written = sep.join(groups)
    return written, [written, region + year + day + rest]


@st.composite
def email(draw: st.DrawFn) -> Pii:
    local = draw(st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,12}", fullmatch=True))
    domain = draw(st.from_regex(r"[A-Za-z0-9]{1,10}\.(com|cn|com\.cn|io)", fullmatch=True))
    written = f"{local}@{domain}"
    return written, [written]


PII = st.one_of(mobile(), international(), card(), id_number(), email())
IN_IDENTIFIER = st.sampled_from(["{}", "wx:{}", "id={}", "({})", "{}/vip"])
IN_TEXT = st.sampled_from(["{}", "请联系 {} 谢谢", "call me at {}, thanks", "卡号：{}。"])


@st.composite
def placed(draw: st.DrawFn, forms: st.SearchStrategy[str], forbidden: list[str]) -> str:
    """Personal data of a drawn kind and grouping in a drawn context; what it must not leave behind is
    added to `forbidden`."""
    written, bare = draw(PII)
    forbidden.extend(bare)
    return draw(forms).format(written)


def leaks(lot: Lot, forbidden: list[str]) -> list[str]:
    """What of `forbidden` the Kafka records or the stored external_ids hold, in any letter case."""
    found: list[str] = []

    def strings(value: Any) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                found.append(key)
                strings(item)
        elif isinstance(value, list):
            for item in value:
                strings(item)
        elif isinstance(value, str):
            found.append(value)

    for value in lot.values:
        strings(json.loads(value))
    found += [key.decode() for key in lot.keys] + [value.decode() for _, value in lot.headers]
    found += lot.external_ids
    everything = "\n".join(found).lower()
    return [f for f in forbidden if f.lower() in everything]


@st.composite
def feedback_with_pii(draw: st.DrawFn) -> tuple[dict[str, Any], list[str]]:
    forbidden: list[str] = []
    ident = placed(IN_IDENTIFIER, forbidden)
    record: dict[str, Any] = {
        name: draw(ident)
        for name in ("external_id", "customer_id", "business_line", "region", "store_id", "product_id")
    }
    record |= {
        "channel": "app",
        "text": draw(placed(IN_TEXT, forbidden)),
        "occurred_at": "2026-11-20T09:30:00+08:00",
        "metadata": {
            draw(placed(IN_TEXT, forbidden)): draw(placed(IN_TEXT, forbidden)),
            "nested": {draw(placed(IN_IDENTIFIER, forbidden)): [draw(placed(IN_TEXT, forbidden))]},
        },
    }
    return record, forbidden


@settings(max_examples=300, deadline=None)
@given(feedback_with_pii())
def test_no_personal_data_in_any_feedback_field_is_published_or_stored(case):
    record, forbidden = case
    raw = json.dumps({"records": [record]}).encode()
    batch, _, rejected = prepare_batch("demo", raw, True, MASKING)  # msgspec's reading
    assert rejected == []
    assert batch.size == 1
    assert leaks(batch, forbidden) == []
    single = prepare_single("demo", json.dumps(record).encode(), True, MASKING)  # pydantic's reading
    assert leaks(single, forbidden) == []


@st.composite
def events_with_pii(draw: st.DrawFn) -> tuple[list[dict[str, Any]], list[str]]:
    forbidden: list[str] = []
    ident = placed(IN_IDENTIFIER, forbidden)
    events: list[dict[str, Any]] = [
        {
            "type": "purchase",
            "order_id": draw(ident),
            "customer_id": draw(ident),
            "store_id": draw(ident),
            "amount": "12.50",
            "currency": "CNY",
            "occurred_at": "2026-11-20T09:30:00+08:00",
            "items": [{"sku": draw(ident), "quantity": 1, "unit_price": "12.50"}],
        },
        {"type": "refund", "order_id": draw(ident), "customer_id": draw(ident), "amount": "1.00"},
        {"type": "referral", "referrer_id": draw(ident), "referee_id": draw(ident)},
        {"type": "survey_completed", "customer_id": draw(ident), "survey_id": draw(ident)},
    ]
    return [{**event, "external_id": draw(ident)} for event in events], forbidden


@settings(max_examples=200, deadline=None)
@given(events_with_pii())
def test_no_personal_data_in_any_business_event_field_is_published_or_stored(case):
    events, forbidden = case
    for event in events:
        lot = single_lot(event_submission("crm", _EVENT.validate_python(event), MASKING))
        assert leaks(lot, forbidden) == [], event["type"]
