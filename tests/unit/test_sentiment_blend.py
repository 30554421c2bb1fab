"""The served blend: the n-gram model computed without scikit-learn agrees with scikit-learn's, the tilt
moves polarity only, the build's weight choice, and both serving backends apply it."""

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from services.sentiment.backends import ModelUnavailable, load_model
from services.sentiment.batcher import run_batch
from services.sentiment.blend import NgramBlend, load_blend, tilted
from services.sentiment.training.authored import Example
from services.sentiment.training.baseline import char_ngram_lr
from services.sentiment.training.blendfit import exported, fit_blend, with_blend
from services.sentiment.training.evaluate import polarity_of
from tests.tiny_models import POLARITY3, STARS, tiny_checkpoint

REVIEWS = [
    ("物流很快，包装完好，非常满意", 1),
    ("质量很好，客服态度也好", 1),
    ("很满意，下次还来买", 1),
    ("好评！做工精细", 1),
    ("服务周到，推荐购买", 1),
    ("东西很差，客服不理人", 0),
    ("包装破损，非常失望", 0),
    ("质量太差了，退货", 0),
    ("物流太慢，差评", 0),
    ("客服态度恶劣，不会再买", 0),
] * 2
UNSEEN = ["包装很好，很满意", "太差了  客服  不理人", "ＡＢＣ很好", "完全没见过的字眼嘛", "", "Great 很好"]


@pytest.fixture(scope="module")
def pipeline():
    return char_ngram_lr(4.0).fit([t for t, _ in REVIEWS], [y for _, y in REVIEWS])


def test_the_served_ngram_model_matches_scikit_learn(pipeline):
    blend = exported(pipeline, 1.0)
    mine = [blend.log_odds(t) for t in UNSEEN]
    np.testing.assert_allclose(mine, pipeline.decision_function(UNSEEN), atol=1e-9)


def test_the_blend_survives_saving_and_loading(tmp_path: Path, pipeline):
    blend = exported(pipeline, 0.3)
    odd = {"\n好": len(blend.index), "😀a": len(blend.index) + 1}  # a line break and a 4-byte character
    blend = replace(
        blend,
        index=blend.index | odd,
        idf=np.append(blend.idf, [2.0, 3.0]),
        coef=np.append(blend.coef, [0.5, -0.5]),
    )
    blend.save(tmp_path)
    loaded = load_blend(tmp_path)
    assert loaded is not None
    assert loaded.weight == 0.3
    assert loaded.index == blend.index
    texts = [*UNSEEN, "好\n好", "😀a 好"]
    # fp16 coefficients: decision values move by far less than any weight on the dev grid could matter
    np.testing.assert_allclose(
        [loaded.log_odds(t) for t in texts], [blend.log_odds(t) for t in texts], atol=5e-3
    )
    assert load_blend(tmp_path / "nothing-here") is None


def test_a_blend_file_whose_arrays_disagree_is_refused(tmp_path: Path, pipeline):
    exported(pipeline, 0.3).save(tmp_path)
    with np.load(tmp_path / "blend.npz") as stored:
        arrays = {k: stored[k] for k in stored.files}
    np.savez_compressed(tmp_path / "blend.npz", **(arrays | {"coef": arrays["coef"][:-1]}))
    with pytest.raises(ValueError, match="differ in length"):
        load_blend(tmp_path)


def test_only_mainly_chinese_text_is_tilted(pipeline):
    blend = exported(pipeline, 1.0)
    assert blend.tilt("the parcel arrived broken, 很失望") == 0.0
    assert blend.tilt("包装破损，非常失望") < 0 < blend.tilt("质量很好，非常满意")
    assert exported(pipeline, 0.0).tilt("包装破损，非常失望") == 0.0


def test_the_tilt_shifts_the_polarity_log_odds_and_keeps_each_sides_proportions():
    probs = np.array([[0.1, 0.2, 0.3, 0.25, 0.15], [0.05, 0.05, 0.1, 0.3, 0.5]], dtype=np.float32)
    out = tilted(probs, np.array([1.5, -2.0]))
    np.testing.assert_allclose(out.sum(1), 1, rtol=1e-6)

    def log_odds(p: np.ndarray) -> np.ndarray:
        return np.asarray(np.log(p[:, 3:].sum(1) / p[:, :2].sum(1)))

    np.testing.assert_allclose(log_odds(out) - log_odds(probs), [1.5, -2.0], atol=1e-5)
    np.testing.assert_allclose(out[:, 0] / out[:, 1], probs[:, 0] / probs[:, 1], rtol=1e-5)
    np.testing.assert_allclose(out[:, 3] / out[:, 4], probs[:, 3] / probs[:, 4], rtol=1e-5)
    assert tilted(probs, np.zeros(2)) is probs


def _unsure_bert(texts):
    """A BERT that knows nothing: every text slightly negative, at 3 stars mostly."""
    return np.tile([0.1, 0.16, 0.5, 0.14, 0.1], (len(texts), 1))


def test_the_weight_is_chosen_on_dev_and_is_zero_when_the_ngrams_add_nothing(pipeline):
    dev = REVIEWS[:10]
    chosen, report = fit_blend(pipeline, _unsure_bert, dev, [], "expected")
    assert chosen.weight > 0
    assert report["dev_polarity_accuracy_by_weight"][chosen.weight] == 1.0
    assert report["dev_polarity_accuracy_by_weight"][0.0] == 0.5

    def perfect(texts):
        truth = dict(REVIEWS)
        return np.array([[0, 0, 0.1, 0.2, 0.7] if truth[t] else [0.7, 0.2, 0.1, 0, 0] for t in texts])

    chosen, _ = fit_blend(pipeline, perfect, dev, [], "expected")
    assert chosen.weight == 0.0
    blended = with_blend(_unsure_bert, exported(pipeline, 1.0))
    assert list(polarity_of(blended([t for t, _ in dev]))) == [y for _, y in dev]


def test_a_weight_that_pushes_mixed_sentences_out_of_2_to_4_stars_is_not_chosen(pipeline):
    mixed_text = "包装破损，非常失望，但是质量很好"
    mixed = [Example(mixed_text, 3, "zh", "retail", True)]

    def bert(texts):
        # Reviews as the unsure BERT reads them; the mixed sentence on the edge between 1 and 3 stars.
        return np.array([[0.45, 0, 0.55, 0, 0] if t == mixed_text else _unsure_bert([t])[0] for t in texts])

    chosen, report = fit_blend(pipeline, bert, REVIEWS[:10], mixed, "argmax")
    kept = report["dev_mixed_within_2_to_4_by_weight"]
    assert kept[chosen.weight] == 1.0
    accuracy = report["dev_polarity_accuracy_by_weight"]
    assert any(share < 1.0 and accuracy[w] == 1.0 for w, share in kept.items())  # the guard mattered


@pytest.mark.parametrize("backend", ["onnx-int8", "torch"])
def test_both_serving_backends_apply_the_stored_blend(tmp_path: Path, pipeline, backend):
    directory = tiny_checkpoint(tmp_path / "m", STARS, onnx=True)
    texts = ["包装破损，非常失望", "质量很好，非常满意", "the agent was great"]
    plain = load_model(str(directory), backend)
    before = plain.backend.probabilities(plain.backend.encode(texts))
    blend: NgramBlend = exported(pipeline, 0.5)
    blend.save(directory)
    served = load_model(str(directory), backend)
    after = served.backend.probabilities(served.backend.encode(texts))
    expected = tilted(before, np.array([blend.tilt(t) for t in texts]))
    np.testing.assert_allclose(after, expected, atol=1e-5)
    assert not np.allclose(after[:2], before[:2])
    np.testing.assert_allclose(after[2], before[2], atol=1e-6)  # English: untouched


def test_each_text_keeps_its_own_tilt_when_batches_are_sorted_by_length(tmp_path: Path, pipeline):
    directory = tiny_checkpoint(tmp_path / "m", STARS, onnx=True)
    texts = ["包装破损，非常失望，客服也不理人", "很满意", "the agent was great", "质量很好，物流快"]
    plain = load_model(str(directory), "onnx").backend
    alone = np.concatenate([plain.probabilities(plain.encode([t])) for t in texts])
    blend = exported(pipeline, 0.5)
    blend.save(directory)
    served = load_model(str(directory), "onnx").backend
    batched = np.stack([s.probabilities for s in run_batch(served, texts, max_batch=2)])
    np.testing.assert_allclose(batched, tilted(alone, np.array([blend.tilt(t) for t in texts])), atol=1e-5)


def test_a_blend_beside_a_model_without_five_stars_is_refused(tmp_path: Path, pipeline):
    directory = tiny_checkpoint(tmp_path / "m", POLARITY3, onnx=True)
    exported(pipeline, 0.5).save(directory)
    with pytest.raises(ModelUnavailable, match="5-star models only"):
        load_model(str(directory), "onnx")
