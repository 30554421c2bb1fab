"""A user's own labelled feedback (CSV or JSONL) for fine-tuning: `text` plus `stars` (1-5) or `label`."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from services.sentiment.training.targets import polarity_target, star_target

LABEL_TARGETS = {
    "negative": polarity_target(False),
    "positive": polarity_target(True),
    "neutral": (0.0, 0.15, 0.7, 0.15, 0.0),
    "0": polarity_target(False),
    "1": polarity_target(True),
}


def load_labelled(path: Path) -> list[tuple[str, tuple[float, ...]]]:
    """Rows with `text` and `stars` or `label`; raises ValueError naming the file and row of a bad one."""
    if path.suffix == ".jsonl":
        rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    else:
        with path.open(encoding="utf-8", newline="") as handle:
            rows = list(csv.DictReader(handle))
    out = []
    for number, row in enumerate(rows, start=1):
        text = str(row.get("text") or "").strip()
        stars, label = row.get("stars"), str(row.get("label") or "").strip().lower()
        if not text:
            raise ValueError(f"{path}: row {number}: text is empty")
        if stars not in (None, ""):
            if str(stars) not in {"1", "2", "3", "4", "5"}:
                raise ValueError(f"{path}: row {number}: stars must be 1-5, got {stars!r}")
            out.append((text, star_target(int(stars))))
        elif label in LABEL_TARGETS:
            out.append((text, LABEL_TARGETS[label]))
        else:
            raise ValueError(f"{path}: row {number}: needs stars (1-5) or label (negative/neutral/positive)")
    return out
