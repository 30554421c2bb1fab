"""Training targets: a polarity teacher's doubt becomes a middle star, never a split between 1 and 5."""

from __future__ import annotations

import numpy as np
import pytest

from services.sentiment.training.targets import POSITIVE, distilled, star_target, teacher_target


@pytest.mark.parametrize("p", [0.0, 0.1, 0.25, 0.5, 0.62, 0.9, 1.0])
def test_the_teacher_target_is_a_distribution_whose_expected_stars_follow_the_teacher(p: float):
    target = np.array(teacher_target(p))
    assert target.min() >= 0
    assert target.sum() == pytest.approx(1)
    assert target @ np.arange(1, 6) == pytest.approx(1 + 4 * p)
    assert np.count_nonzero(target) <= 2  # the two nearest star levels only: unimodal


def test_an_unsure_teacher_says_three_stars_and_a_fairly_sure_one_four():
    assert teacher_target(0.5) == pytest.approx((0, 0, 1, 0, 0))
    assert int(np.argmax(teacher_target(0.75))) + 1 == 4
    assert int(np.argmax(teacher_target(0.2))) + 1 == 2


def test_distillation_keeps_the_gold_polarity_and_moves_a_doubted_review_off_the_extreme():
    doubted = np.array(distilled(POSITIVE, 0.7, 0.5))
    assert doubted.sum() == pytest.approx(1)
    assert doubted[3:].sum() > doubted[:2].sum()  # still positive
    assert int(doubted.argmax()) + 1 == 4  # not 5: the teacher saw a reservation
    assert distilled(POSITIVE, 0.7, 0.0) == POSITIVE


def test_star_targets_are_smoothed_onto_neighbours_only():
    assert star_target(1) == pytest.approx((0.8, 0.2, 0, 0, 0))
    assert star_target(3) == pytest.approx((0, 0.1, 0.8, 0.1, 0))
