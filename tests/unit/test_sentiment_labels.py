"""Label schemas of any checkpoint map onto one verdict: stars, label, score, confidence."""

from dataclasses import replace

import numpy as np
import pytest

from services.sentiment.labels import UnknownLabels, decode_stars, label_map, verdicts
from tests.tiny_models import BINARY, POLARITY3, STARS


def test_five_star_labels_are_read_in_star_order_whatever_their_column():
    shuffled = {0: "5 stars", 1: "1 star", 2: "3 stars", 3: "2 stars", 4: "4 stars"}
    labels = label_map(shuffled)
    assert labels.schema == "stars5"
    assert labels.stars == (1, 3, 2, 4, 0)
    probs = np.array([[0.9, 0.1, 0.0, 0.0, 0.0]])  # mostly "5 stars"
    (verdict,) = verdicts(probs, labels)
    assert verdict.stars == 5
    assert verdict.label == "positive"
    assert verdict.stars_expected == pytest.approx(0.9 * 5 + 0.1 * 1)


def test_three_way_polarity_maps_to_expected_stars_and_score():
    labels = label_map(POLARITY3)
    (neg, neutral) = verdicts(np.array([[0.8, 0.15, 0.05], [0.1, 0.8, 0.1]]), labels)
    assert (neg.label, neg.stars) == ("negative", 2)
    assert neg.score == pytest.approx(-0.75)
    assert neg.stars_expected == pytest.approx(3 + 2 * (0.05 - 0.8))
    assert (neutral.label, neutral.stars, neutral.score) == ("neutral", 3, 0.0)


def test_binary_model_reports_neutral_when_unsure():
    labels = label_map(BINARY)
    sure, unsure = verdicts(np.array([[0.05, 0.95], [0.45, 0.55]]), labels)
    assert (sure.label, sure.stars) == ("positive", 5)
    assert unsure.label == "neutral"
    assert unsure.confidence == pytest.approx(0.55)


def test_unnamed_binary_head_is_read_as_label_1_positive():
    assert label_map({0: "LABEL_0", 1: "LABEL_1"}).positive == (1,)


def test_unknown_labels_are_refused_naming_them():
    with pytest.raises(UnknownLabels, match="spam"):
        label_map({0: "spam", 1: "ham", 2: "eggs"})


def test_score_and_confidence_stay_in_range():
    rng = np.random.default_rng(0)
    probs = rng.dirichlet(np.ones(5), size=200)
    for v in verdicts(probs, label_map(STARS)):
        assert -1 <= v.score <= 1
        assert 0 <= v.confidence <= 1
        assert 1 <= v.stars_expected <= 5


def test_expected_decoding_puts_a_split_verdict_in_the_middle():
    split = np.array([[0.45, 0.05, 0.0, 0.05, 0.45], [0.0, 0.0, 0.1, 0.3, 0.6], [0.7, 0.2, 0.1, 0.0, 0.0]])
    assert decode_stars(split, "argmax").tolist() == [1, 5, 1]
    assert decode_stars(split, "expected").tolist() == [3, 5, 1]  # expected values 3.0, 4.5, 1.4
    labels = label_map(STARS)
    assert [v.stars for v in verdicts(split, labels)] == [1, 5, 1]
    assert [v.stars for v in verdicts(split, replace(labels, decoding="expected"))] == [3, 5, 1]
