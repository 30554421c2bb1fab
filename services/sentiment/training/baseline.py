"""The baseline the BERT must beat: character 1–3-gram TF-IDF + logistic regression on the same split."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline


def char_ngram_lr(c: float = 4.0) -> Pipeline:
    return make_pipeline(
        TfidfVectorizer(analyzer="char", ngram_range=(1, 3), min_df=2, sublinear_tf=True),
        LogisticRegression(C=c, max_iter=2000),
    )


def fit_baseline(
    train: Sequence[tuple[str, int]], dev: Sequence[tuple[str, int]], grid: Sequence[float] = (1, 4, 16)
) -> tuple[Pipeline, float, float]:
    """Fits on train for each C in `grid`, keeps the best on dev: (model, C, dev accuracy)."""
    best: tuple[Pipeline, float, float] | None = None
    for c in grid:
        model = char_ngram_lr(c).fit([t for t, _ in train], [y for _, y in train])
        accuracy = float(np.mean(model.predict([t for t, _ in dev]) == np.array([y for _, y in dev])))
        if best is None or accuracy > best[2]:
            best = (model, c, accuracy)
    assert best is not None
    return best


def out_of_fold(
    train: Sequence[tuple[str, int]],
    c: float,
    folds: int = 5,
    parts: Sequence[tuple[int, str]] = (),
) -> tuple[np.ndarray, np.ndarray]:
    """P(positive) for each training text from a baseline fitted without it (k-fold), for distillation;
    and for each (index of a training text, part of that text) in `parts`, from the same fold's model
    (one that never saw the text the part comes from)."""
    texts = [t for t, _ in train]
    labels = np.array([y for _, y in train])
    out, part_out = np.zeros(len(train)), np.zeros(len(parts))
    part_fold = np.array([i % folds for i, _ in parts], dtype=int)
    for fold in range(folds):
        held = np.arange(len(train)) % folds == fold
        model = char_ngram_lr(c).fit([t for t, h in zip(texts, held, strict=True) if not h], labels[~held])
        out[held] = model.predict_proba([t for t, h in zip(texts, held, strict=True) if h])[:, 1]
        mine = part_fold == fold
        if mine.any():
            chosen = [text for (_, text), m in zip(parts, mine, strict=True) if m]
            part_out[mine] = model.predict_proba(chosen)[:, 1]
    return out, part_out
