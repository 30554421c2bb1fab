"""Masking personal data in free text, and replacing it by keyed pseudonyms in identifiers, before
anything is published or stored.

Recognises e-mail addresses, PRC resident ID numbers, payment-card numbers (Luhn-checked), mainland
China mobile numbers and international (+country) phone numbers, their digits grouped by spaces,
dashes, dots or slashes. Masks keep just enough to be useful to a human reader (a domain, the last
four digits) and nothing that identifies the person.

Pseudonyms. An identifier (customer_id, external_id, store_id, ... and the Kafka key made from one)
is joined on, so a mask, which two people can share, will not do. Each piece of personal data found
in an identifier is replaced by `pii_` and 20 letters a-p: the first 80 bits of
HMAC-SHA256(INGEST_PSEUDONYM_KEY, "<kind>:<canonical form>"), one letter per 4 bits.
- Canonical forms: an e-mail address lowercased; a phone number's digits with its country code (a
  mainland mobile is 86 and its 11 digits, written with +86 or not); a card's digits; an ID number's
  digits with an upper-case X. The same person written two ways gets one pseudonym.
- Stable wherever the key is the same (replicas, restarts); a new key makes every pseudonym new.
- Letters only: every rule needs digits or an '@', so a pseudonym is never masked again. An
  identifier is rewritten until nothing more is found (a pseudonym's letters can complete an address:
  `a@b.` and one), so pseudonymising twice changes nothing; one that would outgrow MAX_IDENTIFIER
  becomes a single pseudonym. Identifiers with nothing personal in them pass unchanged.
- Not reversible without the key. With it, phone numbers are few enough to try them all: the key is
  a secret, and the development one is refused in production (services.ingest.config).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Iterable
from typing import Any, NamedTuple

from services.ingest.mask_rules import INTL_PHONE, RULES, RUN, SEPARATORS, Rule
from services.ingest.mask_rules import PiiKind as PiiKind

ALL_KINDS: tuple[PiiKind, ...] = ("email", "id_number", "card", "phone")
MAX_IDENTIFIER = 200
"""The contracts' and the ingest table's limit: a longer pseudonymised identifier is pseudonymised whole."""
_LETTERS = str.maketrans("0123456789abcdef", "abcdefghijklmnop")
_STEPS = tuple((rule, rule.kind, rule.pattern, rule.fewest) for rule in RULES)
"""The rules with the fields the masking loop reads unpacked (a named tuple's field is a property)."""


def pseudonym(key: bytes, kind: str, canonical: str) -> str:
    """The keyed pseudonym of a canonical form (see the module's docstring)."""
    digest = hmac.new(key, f"{kind}:{canonical}".encode(), hashlib.sha256).digest()
    return "pii_" + digest[:10].hex().translate(_LETTERS)


class Masking(NamedTuple):
    """What to mask, and the pseudonyms' key: plain data, for the helper processes too."""

    kinds: frozenset[PiiKind]
    pseudonym_key: bytes

    def masker(self) -> Masker:
        return Masker(self.kinds, self.pseudonym_key)


class Masker:
    """Masks (text) or pseudonymises (identifiers) the enabled kinds and counts what it replaced (by
    kind) across calls."""

    __slots__ = ("_key", "counts", "kinds")

    def __init__(self, kinds: frozenset[PiiKind] = frozenset(ALL_KINDS), pseudonym_key: bytes = b"") -> None:
        self.kinds = kinds
        self._key = pseudonym_key
        self.counts: dict[str, int] = {}

    def text(self, value: str) -> str:
        """`value` with every match of the enabled kinds masked, rule after rule."""
        return self._rewrite(value, False)

    def identifier(self, value: str) -> str:
        """`value` with every match of the enabled kinds replaced by its pseudonym."""
        # No rule matches fewer than 6 characters (a@b.cc); most identifiers: one search, no list.
        if len(value) < 6 or ("@" not in value and RUN.search(value) is None):
            return value
        if not self._key:
            raise ValueError("pseudonymising identifiers needs a key")
        out = self._rewrite(value, True)
        while out != value:  # a pseudonym's letters can complete an address ("a@b." and one): again
            value, out = out, self._rewrite(out, True)  # each pass removes digits or an '@'
        return out if len(out) <= MAX_IDENTIFIER else pseudonym(self._key, "identifier", out)

    def _rewrite(self, value: str, pseudonymise: bool) -> str:
        """Rules that cannot match are skipped: e-mail without an '@', an international number without
        a '+', and any rule needing more digits in a row than the text has. Others are applied only
        where a search finds a match (a substitution costs more than a search)."""
        has_at = "@" in value
        runs = RUN.findall(value)
        if not runs and not has_at:
            return value
        digits = max((len(run.translate(SEPARATORS)) for run in runs), default=0)
        for rule, kind, pattern, fewest in _STEPS:
            if kind not in self.kinds or digits < fewest:
                continue
            if (kind == "email" and not has_at) or (pattern is INTL_PHONE and "+" not in value):
                continue
            if pattern.search(value) is not None:
                replace = self._replacement(rule, pseudonymise)
                value = pattern.sub(
                    lambda m, k=kind, f=rule.find, r=replace: self._replace(m.group(), k, f, r),  # type: ignore[misc]
                    value,
                )
        return value

    def _replacement(self, rule: Rule, pseudonymise: bool) -> Callable[[str], str]:
        if not pseudonymise:
            return rule.mask
        key, kind, canonical = self._key, rule.kind, rule.canonical
        return lambda span: pseudonym(key, kind, canonical(span))

    def _replace(
        self,
        found: str,
        kind: PiiKind,
        find: Callable[[str], tuple[int, int] | None] | None,
        replace: Callable[[str], str],
    ) -> str:
        if find is None:
            self.counts[kind] = self.counts.get(kind, 0) + 1
            return replace(found)
        span = find(found)
        if span is None:
            return found
        self.counts[kind] = self.counts.get(kind, 0) + 1
        start, end = span
        if end - start == len(found):
            return replace(found)
        return found[:start] + replace(found[start:end]) + found[end:]

    def value(self, value: Any) -> Any:
        """Mask every string inside a JSON-like value (dicts, lists, strings), object keys included.
        Two keys that mask alike become one (the later value stays)."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {self.text(key) if len(key) > 5 else key: self.value(item) for key, item in value.items()}
        if isinstance(value, list):
            return [self.value(item) for item in value]
        return value

    def identifiers(self, value: Any) -> Any:
        """Every string inside a JSON-like value (dicts' values, lists, strings) as an identifier."""
        if isinstance(value, str):
            return self.identifier(value)
        if isinstance(value, dict):
            return {key: self.identifiers(item) for key, item in value.items()}
        if isinstance(value, list):
            return [self.identifiers(item) for item in value]
        return value


def mask_all(values: Iterable[str], kinds: Iterable[PiiKind] = ALL_KINDS) -> tuple[list[str], dict[str, int]]:
    masker = Masker(frozenset(kinds))
    return [masker.text(v) for v in values], dict(masker.counts)
