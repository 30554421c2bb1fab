"""PII is masked before publication: e-mail, PRC ID numbers, cards, mainland and international phones."""

from __future__ import annotations

import pytest

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
