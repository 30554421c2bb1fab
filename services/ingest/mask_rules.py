"""The rules that recognise personal data, each with its mask and the canonical form its pseudonym is
made of (services.ingest.mask applies them).

Digits may be grouped by spaces, dashes, dots or slashes ([ ./-]); a card or phone number's grouping
varies, an ID number's is region, year, month and day, the rest.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Literal, NamedTuple

PiiKind = Literal["email", "id_number", "card", "phone"]

EMAIL = re.compile(r"(?<![\w.+-])[\w.+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
# The digit rules begin with the character they consume first and only then look behind it, two back
# (`X(?<!Y.)` matches where `(?<!Y)X` does): re scans for a pattern's first character set at C speed, but
# cannot when the pattern begins with an assertion, and tries every position instead
# (tests/unit/test_ingest_pii.py holds the plain forms and compares).
ID_NUMBER = re.compile(
    r"[1-9](?<![0-9A-Za-z].)\d{5}[ ./-]?(?:19|20)\d{2}[ ./-]?(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])"
    r"[ ./-]?\d{3}[\dXx](?![0-9A-Za-z])"
)
"""Separators only where people put them: after the region (6), the year (10) and the day (14)."""
CARD = re.compile(r"\d(?<![\d+-].)(?:[ ./-]?\d){12,18}(?![\d-])")
"""Not after or before a dash: an order reference such as ORD-20261120000123-01 is no card (nor, so,
is acct-4111111111111111)."""
CN_MOBILE = re.compile(
    r"(?:\+(?<!\d.)86[ ./-]?1|8(?<!\d.)6[ ./-]?1|1(?<!\d.))[3-9]\d[ ./-]?\d{4}[ ./-]?\d{4}(?!\d)"
)
"""An optional +86 or 86, then a mobile number: one branch for each first character."""
INTL_PHONE = re.compile(r"\+(?<![\w+].)[1-9]\d{0,2}(?:[ ./-]?\(?\d{1,4}\)?){2,5}(?!\d)")

RUN = re.compile(r"\d[\d ()./-]{5,}\d")
"""A run of digits and separators, the part of a text a digit rule can match."""
SEPARATORS = str.maketrans("", "", " ()./-")
_NOT_DIGITS = str.maketrans("", "", "+ ()./-")
"""Deletes every character but the digits (and an ID number's X) from a match of a digit rule."""
_GROUP = re.compile(r"\d+")


def _luhn_valid(digits: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2 == 1:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


CARD_GROUPINGS = frozenset({(4, 6, 4), (4, 6, 5)})
"""Diners' and Amex's groups; every other card is written in fours (the last group shorter)."""


def _card_grouping(span: str) -> bool:
    """Whether the digit groups are the way a card number is written: one run, fours, or 4-6-4/4-6-5.
    An identifier such as F8506053787-123 has a card's digit count and passes Luhn one time in ten."""
    groups = tuple(len(group) for group in _GROUP.findall(span))
    if len(groups) == 1 or groups in CARD_GROUPINGS:
        return True
    return all(size == 4 for size in groups[:-1]) and groups[-1] <= 4


def _is_card(span: str) -> bool:
    digits = span.translate(_NOT_DIGITS)
    if not 13 <= len(digits) <= 19 or not _card_grouping(span) or not _luhn_valid(digits):
        return False
    # One dot or slash is a decimal point or a fraction; a card grouped by them has several.
    return ("." not in span and "/" not in span) or len(span) - len(digits) >= 2


def _card_span(found: str) -> tuple[int, int] | None:
    """The most digit groups in a row that make a card: a match may begin or end with digits that
    belong to something else (`1.5 4111.1111.1111.1111`)."""
    groups = [m.span() for m in _GROUP.finditer(found)]
    for size in range(len(groups), 0, -1):
        for first in range(len(groups) - size + 1):
            start, end = groups[first][0], groups[first + size - 1][1]
            if _is_card(found[start:end]):
                return start, end
    return None


def _intl_span(found: str) -> tuple[int, int] | None:
    return (0, len(found)) if 8 <= len(found.translate(_NOT_DIGITS)) <= 15 else None


def _digits(span: str) -> str:
    return span.translate(_NOT_DIGITS)


def _mask_email(span: str) -> str:
    local, _, domain = span.partition("@")
    return f"{local[0]}***@{domain}"


def _mask_mobile(span: str) -> str:
    digits = span.translate(_NOT_DIGITS)[-11:]
    return f"{digits[:3]}****{digits[-4:]}"


def _mask_intl(span: str) -> str:
    digits = span.translate(_NOT_DIGITS)
    return "+" + "*" * (len(digits) - 4) + digits[-4:]


class Rule(NamedTuple):
    kind: PiiKind
    pattern: re.Pattern[str]
    find: Callable[[str], tuple[int, int] | None] | None
    """Where in a match the personal data is (None from it: nowhere, the match is left as it is);
    None: the whole match."""
    mask: Callable[[str], str]
    canonical: Callable[[str], str]
    """What the pseudonym is made of: equal for two ways of writing the same thing."""
    fewest: int
    """The fewest digits in one run of digits and separators a match needs (0: not a digit rule)."""


# Order matters: an 18-character ID number would otherwise look like a card or phone number, and a
# mobile number written with 86 and separators like a card.
RULES = (
    Rule("email", EMAIL, None, _mask_email, str.lower, 0),
    Rule(
        "id_number",
        ID_NUMBER,
        None,
        lambda s: "*" * 14 + _digits(s)[-4:],
        lambda s: _digits(s).upper(),
        17,
    ),
    Rule("phone", CN_MOBILE, None, _mask_mobile, lambda s: "86" + _digits(s)[-11:], 11),
    Rule("card", CARD, _card_span, lambda s: "**** **** **** " + _digits(s)[-4:], _digits, 13),
    # An international number under 8 digits is left as it is anyway.
    Rule("phone", INTL_PHONE, _intl_span, _mask_intl, _digits, 8),
)
