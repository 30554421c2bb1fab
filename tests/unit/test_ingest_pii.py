"""PII is masked before publication: e-mail, PRC ID numbers, cards, mainland and international phones,
their digits grouped by spaces, dashes, dots or slashes; in identifiers it becomes a keyed pseudonym."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.ingest import mask as pii
from services.ingest import mask_rules as pii_rules
from services.ingest.mask import Masker, mask_all, pseudonym


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
        ("电话 138.1234.5678 谢谢", "电话 138****5678 谢谢", "phone"),
        ("call 138/1234/5678.", "call 138****5678.", "phone"),
        ("tel +86.138.1234.5678", "tel 138****5678", "phone"),
        ("Berlin +49 30/1234 5678", "Berlin +********5678", "phone"),
        ("card 4111.1111.1111.1111 charged", "card **** **** **** 1111 charged", "card"),
        ("card 4111/1111/1111/1111", "card **** **** **** 1111", "card"),
        ("paid 1.5 4111.1111.1111.1111", "paid 1.5 **** **** **** 1111", "card"),
        ("ID 110105 19900307 123X ok", "ID **************123X ok", "id_number"),
        ("ID 110105.1990.0307.1234", "ID **************1234", "id_number"),
        ("ID 110105-19900307-1234", "ID **************1234", "id_number"),
        ("Amex 3782 822463 10005 on file", "Amex **** **** **** 0005 on file", "card"),
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
        "delivered 2026.12.05, rated 3.5 of 5",
        "on 2026/12/05 at 13.45, order 2026.1120.0001.23",
        "pi is 3.14159265358979 and 1/3 is 0.333333333333333",
        "a ratio of 3.141592653589796 (Luhn-valid digits, but one dot is a decimal point)",
        "12345678.90128 or 12345678/90128",
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


def test_metadata_keys_are_masked_as_values_are():
    masker = Masker()
    value = masker.value({"13812345678": "vip", "li.lei@example.com": {"138.1234.5678": 1}, "note": "ok"})
    assert value == {"138****5678": "vip", "l***@example.com": {"138****5678": 1}, "note": "ok"}
    assert masker.counts == {"phone": 2, "email": 1}


def test_only_enabled_kinds_are_masked():
    masker = Masker(frozenset({"email"}))
    assert masker.text("x@y.com 13812345678") == "x***@y.com 13812345678"


_PLAIN_PATTERNS = (
    pii_rules.EMAIL.pattern,
    r"(?<![0-9A-Za-z])[1-9]\d{5}[ ./-]?(?:19|20)\d{2}[ ./-]?(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])"
    r"[ ./-]?\d{3}[\dXx](?![0-9A-Za-z])",
    r"(?<!\d)(?:\+?86[ ./-]?)?1[3-9]\d[ ./-]?\d{4}[ ./-]?\d{4}(?!\d)",
    r"(?<![\d+-])\d(?:[ ./-]?\d){12,18}(?![\d-])",
    r"(?<![\w+])\+[1-9]\d{0,2}(?:[ ./-]?\(?\d{1,4}\)?){2,5}(?!\d)",
)
"""The rules as first written, each assertion before what it guards (the module's forms consume a
character first, for speed)."""
_PLAIN_RULES = [
    rule._replace(pattern=re.compile(plain))
    for rule, plain in zip(pii_rules.RULES, _PLAIN_PATTERNS, strict=True)
]


def _every_rule_in_turn(text: str, identifier: bool = False) -> tuple[str, dict[str, int]]:
    """The reference: each plain rule's pass over the whole text, none skipped."""
    masker = Masker(pseudonym_key=b"k")
    before = None
    while text != before:  # an identifier until nothing changes; a text once
        before = text
        for rule in _PLAIN_RULES:
            replace = masker._replacement(rule, identifier)
            text = rule.pattern.sub(
                lambda m, r=rule, f=replace: masker._replace(m.group(), r.kind, r.find, f),  # type: ignore[misc]
                text,
            )
        if not identifier:
            break
    if identifier and len(text) > pii.MAX_IDENTIFIER:
        text = pseudonym(b"k", "identifier", text)
    return text, masker.counts


_WHOLE = [
    "13812345678",
    "110105199003071234",
    "4111111111111111",
    "138.1234.5678",
    "110105/19900307/1234",
    "4111.1111.1111.1111",
]
"""A number of each kind whole, so that the rules' edges meet what comes before and after them."""
_PIECES = st.one_of(
    st.integers(0, 10**6).map(str),  # runs of digits, so that the long rules get their chances
    st.sampled_from([*"1X -./()+@ax\n٣", "mail.", "com", "客服", "86", "4222", *_WHOLE]),
)


@settings(max_examples=3000, deadline=None)
@given(st.lists(_PIECES, max_size=40).map("".join))
def test_fast_rules_and_skips_mask_as_the_plain_rules_do(text):
    assert masked(text) == _every_rule_in_turn(text)


@settings(max_examples=1000, deadline=None)
@given(st.lists(_PIECES, max_size=40).map("".join))
def test_fast_rules_and_skips_pseudonymise_as_the_plain_rules_do(text):
    masker = Masker(pseudonym_key=b"k")
    assert (masker.identifier(text), masker.counts) == _every_rule_in_turn(text, identifier=True)


@pytest.mark.parametrize(
    "text",
    [
        "13812345678@qq.com 与 +86 139 0000 1111",
        "+44 (20) 7946-0958 / 4111 1111 1111 1111 / 11010519900307123X",
        "1234567 +1234567 +12345678",
        "visa 4222222222222 and 4222 2222 22222",
        "586 13812345678 5+86 13812345678 a110105199003071234 x+44 20 7946 0958 7+1 202 555 0143",
        "1.4111111111111111 4111.1111.1111.1111.2 138.1234.5678/1 +44/20/7946/0958 110105.19900307.123x",
    ],
)
def test_fast_rules_and_skips_mask_as_the_plain_rules_do_on_mixed_texts(text):
    assert masked(text) == _every_rule_in_turn(text)


KEY = b"test-key"


def identifier(value: str, key: bytes = KEY) -> str:
    return Masker(pseudonym_key=key).identifier(value)


@pytest.mark.parametrize(
    ("written", "canonical"),
    [
        ("+86 138-1234-5678", "13812345678"),
        ("86.138.1234.5678", "13812345678"),
        ("138/1234/5678", "13812345678"),
        ("Li.Lei@Example.COM", "li.lei@example.com"),
        ("4111.1111.1111.1111", "4111111111111111"),
        ("4111/1111/1111/1111", "4111 1111 1111 1111"),
        ("110105 19900307 123x", "11010519900307123X"),
        ("+44 (20) 7946-0958", "+44.20.7946.0958"),
    ],
)
def test_the_same_thing_written_two_ways_has_one_pseudonym(written, canonical):
    assert identifier(written) == identifier(canonical)


def test_pseudonyms_are_keyed_letters_after_pii():
    phone = identifier("13812345678")
    assert phone == pseudonym(KEY, "phone", "8613812345678")
    assert re.fullmatch("pii_[a-p]{20}", phone)
    assert identifier("13812345678", b"another-key") != phone
    assert identifier("13912345678") != phone
    assert identifier("li.lei@example.com") != identifier("li.lei@example.cn")


@pytest.mark.parametrize(
    "ordinary",
    [
        "C10086",
        "c-123",
        "web-2026-000123",
        "SH-017",
        "20261120000123",
        "nps-q4",
        "v1.2.3",
        # 13 Luhn-valid digits, but grouped as no card is written
        "F8506053787-105",
        "batch 2026112/0000/1238",
    ],
)
def test_identifiers_without_personal_data_pass_unchanged(ordinary):
    masker = Masker(pseudonym_key=KEY)
    assert masker.identifier(ordinary) == ordinary
    assert masker.counts == {}


def test_personal_data_inside_an_identifier_is_replaced_where_it_is_and_counted():
    masker = Masker(pseudonym_key=KEY)
    assert masker.identifier("wx:13812345678/vip") == f"wx:{identifier('13812345678')}/vip"
    assert masker.counts == {"phone": 1}


def test_an_identifier_that_would_outgrow_the_contracts_becomes_one_pseudonym():
    many = ",".join(["a@b.cc"] * 28)
    out = identifier(many)
    assert re.fullmatch("pii_[a-p]{20}", out)
    assert out == identifier(many)


def test_pseudonymising_needs_a_key():
    with pytest.raises(ValueError, match="key"):
        Masker().identifier("13812345678")
    assert Masker().identifier("C10086") == "C10086"


@settings(max_examples=1000, deadline=None)
@given(st.lists(_PIECES, max_size=40).map("".join))
def test_a_pseudonymised_identifier_holds_nothing_left_to_mask(text):
    once = identifier(text)
    assert identifier(once) == once
    assert masked(once) == (once, {})
