"""Aspect tagging: keyword hits of a configurable zh + en taxonomy, each with its own clause polarity."""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from shared.contracts.feedback import Aspect, SentimentLabel
from shared.textfold import to_simplified
from shared.yamlconfig import load_yaml

DEFAULT_ASPECTS = Path(__file__).with_name("aspects.yaml")
_CLAUSE = re.compile(
    r"[，。！？!?;；,.\n]|但是|可惜|不过|就是|\bbut\b|\bhowever\b|\balthough\b|\bwhile\b", re.IGNORECASE
)


class Keywords(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    zh: list[str] = Field(default_factory=list)
    en: list[str] = Field(default_factory=list)


class Cues(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    positive: Keywords
    negative: Keywords
    negators: Keywords


class AspectTaxonomy(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    aspects: dict[str, Keywords] = Field(min_length=1)
    cues: Cues


def load_taxonomy(path: Path = DEFAULT_ASPECTS) -> AspectTaxonomy:
    return load_yaml(path, AspectTaxonomy)


def _en_pattern(words: list[str]) -> re.Pattern[str] | None:
    if not words:
        return None
    return re.compile(
        r"\b(" + "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True)) + r")\b", re.IGNORECASE
    )


def _folded(words: list[str]) -> list[str]:
    return list(dict.fromkeys(to_simplified(word) for word in words))


class AspectTagger:
    """Pure and thread-safe: built once from a taxonomy, then `tag(text, overall)` per feedback."""

    def __init__(self, taxonomy: AspectTaxonomy) -> None:
        self.aspects = [(name, _folded(kw.zh), _en_pattern(kw.en)) for name, kw in taxonomy.aspects.items()]
        cues = taxonomy.cues
        self.positive = (_folded(cues.positive.zh), _en_pattern(cues.positive.en))
        self.negative = (_folded(cues.negative.zh), _en_pattern(cues.negative.en))
        self.negators_zh = tuple(_folded(cues.negators.zh))
        self.negators_en = _en_pattern([w for w in cues.negators.en if w != "n't"])

    def _hits(self, clause: str, zh: list[str], en: re.Pattern[str] | None) -> list[tuple[int, str]]:
        hits = [(clause.find(word), word) for word in zh if word in clause]
        if en is not None:
            hits += [(m.start(), m.group(0).lower()) for m in en.finditer(clause)]
        return hits

    def _negated(self, clause: str, at: int) -> bool:
        before = clause[max(0, at - 12) : at]
        if any(before.endswith(n) or before[-2:].startswith(n) for n in self.negators_zh if n):
            return True
        return "n't" in before.lower() or bool(self.negators_en and self.negators_en.search(before))

    def clause_polarity(self, clause: str) -> int:
        balance = 0
        for sign, (zh, en) in ((1, self.positive), (-1, self.negative)):
            for at, _ in self._hits(clause, zh, en):
                balance += -sign if self._negated(clause, at) else sign
        return balance

    def tag(self, text: str, overall: SentimentLabel) -> list[Aspect]:
        """Aspects mentioned in `text`; each labelled by the cue balance of its clauses, else `overall`.
        Text and keywords are compared in Simplified Chinese, so either script matches either."""
        clauses = [c for c in _CLAUSE.split(to_simplified(text)) if c and c.strip()]
        found: list[Aspect] = []
        for name, zh, en in self.aspects:
            keywords: list[str] = []
            balance = 0
            for clause in clauses:
                hits = self._hits(clause, zh, en)
                if hits:
                    keywords.extend(word for _, word in hits)
                    balance += self.clause_polarity(clause)
            if keywords:
                label: SentimentLabel = (
                    overall if balance == 0 else ("positive" if balance > 0 else "negative")
                )
                found.append(Aspect(name=name, label=label, keywords=sorted(set(keywords))))
        return found
