"""What the request models' validators require, said in their JSON schemas too, so that the OpenAPI document
promises only what ingest accepts: clients and fuzzers that follow it are not answered 422."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Annotated, Any

from pydantic import BeforeValidator, WithJsonSchema
from pydantic_core import PydanticCustomError

from shared.contracts.bounds import MAX_AMOUNT, Amount, Price

SCORES = ("csat", "nps", "ces", "stars")
WHITESPACE = (
    "\t\n\x0b\x0c\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
    "\u2028\u2029\u202f\u205f\u3000"
)
"""What pydantic's str_strip_whitespace removes from either end (Unicode White_Space; Python's own
`strip()` removes more, such as U+001C-U+001F)."""
NOT_BLANK = "[^" + "".join(f"\\u{ord(c):04x}" for c in WHITESPACE) + "]"
"""A pattern for text not blank once stripped, spelled out rather than `\\S`, whose whitespace differs
between Python, ECMAScript and pydantic (U+001C, U+0085, U+FEFF)."""
SAYS_SOMETHING: dict[str, Any] = {"type": "string", "pattern": NOT_BLANK}
"""Text that is not blank once stripped (the models strip whitespace)."""


def _present(name: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"required": [name], "properties": {name: schema}}


FEEDBACK_TEXT_OR_SCORE: dict[str, Any] = {
    "anyOf": [_present("text", SAYS_SOMETHING), *(_present(score, {"type": "integer"}) for score in SCORES)]
}
"""FeedbackIn: text, or at least one score."""

EMAIL_SUBJECT_OR_BODY: dict[str, Any] = {
    "anyOf": [_present("subject", SAYS_SOMETHING), _present("body", SAYS_SOMETHING)]
}
"""EmailWebhookIn: the feedback text is the subject and the body; one of them must say something."""

CUSTOMER_SPOKE: dict[str, Any] = {
    "type": "object",
    "required": ["speaker", "text"],
    "properties": {"speaker": {"const": "customer"}, "text": SAYS_SOMETHING},
}
TRANSCRIPT_CUSTOMER_OR_CSAT: dict[str, Any] = {
    "anyOf": [
        _present("segments", {"type": "array", "contains": CUSTOMER_SPOKE}),
        _present("csat", {"type": "integer"}),
    ]
}
"""CallTranscriptIn: the feedback text is what the customer said; without any, a csat score must be given."""

AMOUNT_TEXT = r"^0*(?:[1-9]\d{0,9}(?:\.\d{0,2})?|\.(?:0[1-9]|[1-9]\d?))$"
PRICE_TEXT = r"^0*(?:\d{1,10}(?:\.\d{0,2})?|\.\d{1,2})$"
"""The decimal strings of (0, MAX_AMOUNT] and [0, MAX_AMOUNT] with at most cents, for the document."""
_PLAIN_DECIMAL = re.compile(r"\d+(?:\.\d{0,2})?|\.\d{1,2}")
"""How a decimal string may be spelled: no exponent, sign or spaces, which pydantic would also read. The
field's bounds then refuse what AMOUNT_TEXT and PRICE_TEXT leave out, naming the bound."""


def _plain_decimal(value: Any) -> Any:
    if isinstance(value, str) and not _PLAIN_DECIMAL.fullmatch(value):
        raise PydanticCustomError(
            "decimal_parsing", "Input should be a decimal such as 12.50 (at most 2 places)"
        )
    return value


def _money_schema(pattern: str, low: dict[str, Decimal | int]) -> WithJsonSchema:
    number = {"type": "number", **low, "maximum": float(MAX_AMOUNT), "multipleOf": 0.01}
    return WithJsonSchema({"anyOf": [number, {"type": "string", "pattern": pattern}]})


AmountIn = Annotated[
    Amount, BeforeValidator(_plain_decimal), _money_schema(AMOUNT_TEXT, {"exclusiveMinimum": 0})
]
"""An amount above 0 with at most cents, as a JSON number or a decimal string ("12.50")."""
PriceIn = Annotated[Price, BeforeValidator(_plain_decimal), _money_schema(PRICE_TEXT, {"minimum": 0})]
"""A price of 0 or more with at most cents, as a JSON number or a decimal string."""
