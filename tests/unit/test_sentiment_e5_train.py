"""Fine-tuning the pruned e5: VADER ratings as star targets, the training mixture, the English held-out
metrics, and a smoke run of the whole step on a tiny model."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from services.sentiment.training import e5train
from services.sentiment.training.authored import Example, opposed_train
from services.sentiment.training.corpus import PolaritySplit
from services.sentiment.training.e5tokenizer import build_tokenizer, save
from services.sentiment.training.targets import POSITIVE
from services.sentiment.training.vader import RatedText
from tests.unit.test_sentiment_e5_prune import tiny_model
from tests.unit.test_sentiment_e5_tokenizer import tiny_vocabulary


@pytest.mark.parametrize(("rating", "stars"), [(-4.0, 1.0), (-1.0, 2.5), (0.0, 3.0), (4.0, 5.0)])
def test_a_rating_maps_onto_the_star_scale_and_its_target_expects_those_stars(rating, stars):
    assert e5train.rating_stars(rating) == stars
    target = np.array(e5train.rating_target(rating))
    assert target.sum() == pytest.approx(1.0)
    assert target @ np.arange(1, 6) == pytest.approx(stars)
    assert np.count_nonzero(target) <= 2


def test_the_training_set_is_every_review_and_rated_text_and_a_sample_of_the_authored_ones():
    polarity = PolaritySplit([("好", 1), ("差", 0)], [], [])
    vader = [RatedText("great", 3.0, "tweets")]
    authored = [Example(f"text {i}", 1 + i % 5, "en", "d", False) for i in range(10)]
    train = e5train.training_set(polarity, vader, authored, authored_share=4, seed=0)
    assert train[:3] == [("好", POSITIVE), ("差", train[1][1]), ("great", e5train.rating_target(3.0))]
    opposed = [e.text for e in opposed_train()]  # always in, beside the sample
    assert len(train) == 3 + 4 + len(opposed)
    assert len({t for t, _ in train[3:7]}) == 4
    assert [t for t, _ in train[7:]] == opposed
    assert e5train.training_set(polarity, vader, authored, 4, seed=0) == train  # reproducible


def test_english_metrics_score_only_items_with_a_polarity():
    rows = [
        RatedText("good", 3.0, "amazon"),
        RatedText("bad", -2.0, "movies"),
        RatedText("meh", 0.2, "tweets"),
    ]

    def predict(texts):
        five = {"good": [0, 0, 0, 0, 1], "bad": [1, 0, 0, 0, 0], "meh": [1, 0, 0, 0, 0]}
        return np.array([five[t] for t in texts], dtype=float)

    metrics = e5train.english_metrics(predict, rows)
    assert metrics["en_vader_n"] == 2
    assert metrics["en_vader_polarity_accuracy"] == 1.0
    assert metrics["en_vader_star_mae"] == pytest.approx((0.5 + 1.0) / 2)  # 4.5 -> 5, 2.0 -> 1


def test_english_floor_figures_count_tweets_and_amazon_only():
    rows = [
        RatedText("good", 3.0, "amazon"),
        RatedText("fine", 2.0, "tweets"),
        RatedText("bad", -2.0, "movies"),
    ]

    def predict(texts):
        five = {"good": [0, 0, 0, 0, 1], "fine": [1, 0, 0, 0, 0], "bad": [0, 0, 0, 0, 1]}
        return np.array([five[t] for t in texts], dtype=float)

    metrics = e5train.english_metrics(predict, rows)
    assert metrics["en_vader_floor_n"] == 2
    assert metrics["en_vader_floor_polarity_accuracy"] == 0.5  # "fine" is wrong, the movie is not counted
    assert metrics["en_vader_movies_polarity_accuracy"] == 0.0
    assert metrics["en_vader_polarity_accuracy"] == pytest.approx(1 / 3)


def test_training_a_tiny_model_saves_it_with_held_out_figures(tmp_path: Path):
    init = tmp_path / "init"
    model = tiny_model()
    model.config.max_position_embeddings = 32
    model.save_pretrained(str(init))
    save(build_tokenizer(tiny_vocabulary()), init, 32)
    out = tmp_path / "tuned"
    report = e5train.train_e5(
        init, out, epochs=1, minutes=5, authored_share=8, lr=1e-3, batch_size=8, limit=16
    )
    assert report["train_texts"] == 16
    assert len(report["dev_scores"]) == 1
    assert json.loads((out / "report.json").read_text()) == report
    assert 0 <= report["en_vader_polarity_accuracy"] <= 1
    assert report["en_vader_n"] > 100
    assert (out / "config.json").exists()
    assert (out / "tokenizer.json").exists()
