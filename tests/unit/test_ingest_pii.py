"""PII is masked before publication: e-mail, PRC ID numbers, cards, mainland and international phones."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.ingest import pii
from services.ingest.pii import Masker, mask_all


def masked(text: str) -> tuple[str, dict[str, int]]:
    [out], counts = mask_all([text])
    return out, counts


@pytest.mark.parametrize(
    ("text", "expected", "kind"),
    [
        ("联系我 13812345678 谢谢", "联系我 138****5678 谢谢", "phone"),
        ("call +86 138 1234 5678 now", "call 138****5678 now", "phone"),
        ("UK office +44 20 7946 0958.", "UK office +********0958.", "phone"),
        ("US: +1-202-555-0143", "US: +*******0143", "phone"),
        ("mail zhang.wei+cx@example.com.cn please", "mail z***@example.com.cn please", "email"),
        ("身份证号110105199003071234", "身份证号**************1234", "id_number"),
        ("ID 11010519900307123X ok", "ID **************123X ok", "id_number"),
        ("card 4111 1111 1111 1111 charged twice", "card **** **** **** 1111 charged twice", "card"),
        ("card 4111-1111-1111-1111", "card **** **** **** 1111", "card"),
    ],
)
def test_each_kind_is_masked_and_counted(text, expected, kind):
    out, counts = masked(text)
    assert out == expected
    assert counts == {kind: 1}


@pytest.mark.parametrize(
    "text",
    [
        "订单号 20261120000123 已发货",  # order number: not Luhn-valid, not a phone
        "I waited 45 minutes for 3 items costing 1288.00",
        "包装破损但客服很专业",
        "version 1.2.3 at 2026-11-20",
    ],
)
def test_ordinary_numbers_and_text_are_left_alone(text):
    out, counts = masked(text)
    assert out == text
    assert counts == {}


def test_several_kinds_in_one_text_are_all_counted():
    out, counts = masked("a@b.io / 13900001111 / 13900002222 / 4111111111111111")
    assert "13900001111" not in out
    assert "a@b.io" not in out
    assert counts == {"email": 1, "phone": 2, "card": 1}


def test_nested_free_form_values_are_masked():
    masker = Masker()
    value = masker.value({"contact": {"phones": ["13812345678"], "note": "x@y.com"}, "n": 3})
    assert value == {"contact": {"phones": ["138****5678"], "note": "x***@y.com"}, "n": 3}
    assert dict(masker.counts) == {"phone": 1, "email": 1}


def test_only_enabled_kinds_are_masked():
    masker = Masker(frozenset({"email"}))
    assert masker.text("x@y.com 13812345678") == "x***@y.com 13812345678"


_PLAIN_RULES = (
    ("email", pii._EMAIL, pii._mask_email),
    (
        "id_number",
        re.compile(
            r"(?<![0-9A-Za-z])[1-9]\d{5}(?:19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3}[\dXx](?![0-9A-Za-z])"
        ),
        pii._mask_id_number,
    ),
    ("card", re.compile(r"(?<![\d+-])\d(?:[ -]?\d){12,18}(?![\d-])"), pii._mask_card),
    ("phone", re.compile(r"(?<!\d)(?:\+?86[ -]?)?1[3-9]\d[ -]?\d{4}[ -]?\d{4}(?!\d)"), pii._mask_cn_mobile),
    (
        "phone",
        re.compile(r"(?<![\w+])\+[1-9]\d{0,2}(?:[ .-]?\(?\d{1,4}\)?){2,5}(?!\d)"),
        pii._mask_intl_phone,
    ),
)
"""The rules as first written, each assertion before what it guards (the module's forms consume a
character first, for speed)."""


def _every_rule_in_turn(text: str) -> tuple[str, dict[str, int]]:
    """The reference: each plain rule's pass over the whole text, none skipped."""
    masker = Masker()
    for kind, pattern, mask in _PLAIN_RULES:
        text = pattern.sub(lambda m, k=kind, f=mask: masker._replace(m, k, f), text)
    return text, masker.counts


_WHOLE = ["13812345678", "110105199003071234", "4111111111111111"]
"""A number of each kind whole, so that the rules' edges meet what comes before and after them."""
_PIECES = st.one_of(
    st.integers(0, 10**6).map(str),  # runs of digits, so that the long rules get their chances
    st.sampled_from([*"1X -.()+@ax\n٣", "mail.", "com", "客服", "86", "4222", *_WHOLE]),
)


@settings(max_examples=3000, deadline=None)
@given(st.lists(_PIECES, max_size=40).map("".join))
def test_fast_rules_and_skips_mask_as_the_plain_rules_do(text):
    assert masked(text) == _every_rule_in_turn(text)


@pytest.mark.parametrize(
    "text",
    [
        "13812345678@qq.com 与 +86 139 0000 1111",
        "+44 (20) 7946-0958 / 4111 1111 1111 1111 / 11010519900307123X",
        "1234567 +1234567 +12345678",
        "visa 4222222222222 and 4222 2222 22222",
        "586 13812345678 5+86 13812345678 a110105199003071234 x+44 20 7946 0958 7+1 202 555 0143",
    ],
)
def test_fast_rules_and_skips_mask_as_the_plain_rules_do_on_mixed_texts(text):
    assert masked(text) == _every_rule_in_turn(text)
