"""From a received feedback and the model's probabilities to the scored payload: the disagreement flag,
empty text and the deterministic scored event id."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import numpy as np
import pytest

from services.sentiment.aspects import AspectTagger, load_taxonomy
from services.sentiment.batcher import Scored
from services.sentiment.labels import label_map
from services.sentiment.scoring import ScoringContext, build_scored, scored_event_id
from shared.contracts.feedback import FeedbackReceived, ModelRef

EXAMPLE = Path("shared/contracts/examples/feedback.received.v1/feedback.received.json")
CONTEXT = ScoringContext(
    label_map({i: f"{i + 1} stars" for i in range(5)}),
    AspectTagger(load_taxonomy()),
    ModelRef(id="m", version="1"),
)
CONFIDENT_NEGATIVE = Scored(np.array([0.9, 0.06, 0.02, 0.01, 0.01]), truncated=False)
CONFIDENT_POSITIVE = Scored(np.array([0.01, 0.01, 0.02, 0.06, 0.9]), truncated=False)
UNSURE_NEGATIVE = Scored(np.array([0.3, 0.25, 0.2, 0.15, 0.1]), truncated=False)


def received(**fields: object) -> FeedbackReceived:
    payload = json.loads(EXAMPLE.read_text())["payload"] | {"csat": None, "nps": None, "stars": None}
    return FeedbackReceived.model_validate(payload | fields)


@pytest.mark.parametrize(
    ("rating", "scored", "flagged"),
    [
        ({"csat": 5}, CONFIDENT_NEGATIVE, True),
        ({"stars": 1}, CONFIDENT_POSITIVE, True),
        ({"nps": 10}, CONFIDENT_NEGATIVE, True),
        ({"csat": 5}, UNSURE_NEGATIVE, False),  # the text is not sure enough to contradict the customer
        ({"csat": 3}, CONFIDENT_NEGATIVE, False),  # a neutral rating contradicts nothing
        ({"csat": 1}, CONFIDENT_NEGATIVE, False),
        ({}, CONFIDENT_NEGATIVE, False),
    ],
)
def test_a_rating_contradicted_by_a_confident_text_is_flagged(rating, scored, flagged):
    out = build_scored(received(**rating), scored, CONTEXT)
    assert ("score_text_disagreement" in out.flags) is flagged


def test_empty_text_is_neutral_and_says_so():
    out = build_scored(received(text="", csat=5), None, CONTEXT)
    assert (out.label, out.stars, out.flags) == ("neutral", 3, ["empty_text"])


def test_the_scored_event_id_is_the_same_for_a_redelivered_record_and_differs_between_records():
    first, second = uuid.uuid4(), uuid.uuid4()
    model = ModelRef(id="m", version="1")
    assert scored_event_id(first, model) == scored_event_id(first, model) != scored_event_id(second, model)


def test_a_re_score_by_another_model_version_or_id_is_a_new_scored_event():
    received_id = uuid.uuid4()
    ids = {
        scored_event_id(received_id, model)
        for model in (
            ModelRef(id="m", version="1"),
            ModelRef(id="m", version="2"),
            ModelRef(id="other", version="1"),
        )
    }
    assert len(ids) == 3
    # The backend serving the same weights does not make a new verdict.
    same = ModelRef(id="m", version="1", backend="onnx-int8")
    assert scored_event_id(received_id, same) == scored_event_id(received_id, ModelRef(id="m", version="1"))
