"""The build serves the fastest ONNX backend that agrees with torch and keeps the committed model
directory within its size budget."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from services.sentiment.training.authored import _held_out_nouns, authored_split, short_test
from services.sentiment.training.build import (
    ARTIFACT_BUDGET,
    authored_dev,
    choose_backend,
    choose_decoding,
    decoding_dev,
)


def test_the_served_backend_is_the_fastest_that_agrees_and_fits_the_artifact_budget(tmp_path: Path):
    (tmp_path / "model.safetensors").write_bytes(b"w" * 1000)
    (tmp_path / "model.int8.onnx").write_bytes(b"q" * 1000)
    (tmp_path / "model.onnx").write_bytes(b"f" * 2000)
    agree = {"onnx": {"label": 1.0}, "onnx-int8": {"label": 0.995}}
    assert choose_backend(tmp_path, agree, {"onnx": 200.0, "onnx-int8": 250.0}) == "onnx-int8"
    assert choose_backend(tmp_path, agree, {"onnx": 260.0, "onnx-int8": 250.0}) == "onnx"
    low = {"onnx": {"label": 1.0}, "onnx-int8": {"label": 0.98}}
    assert choose_backend(tmp_path, low, {"onnx": 200.0, "onnx-int8": 250.0}) == "onnx"
    # fp32 would take the directory over the budget: the slower int8 file is served instead.
    (tmp_path / "model.onnx").write_bytes(b"f" * (ARTIFACT_BUDGET - 500))
    assert choose_backend(tmp_path, agree, {"onnx": 260.0, "onnx-int8": 250.0}) == "onnx-int8"
    assert choose_backend(tmp_path, low, {"onnx": 260.0, "onnx-int8": 250.0}) == "torch"


def test_the_star_decoding_with_the_lower_dev_mae_is_chosen_argmax_on_a_tie():
    probs = np.array([[0.45, 0.05, 0.0, 0.05, 0.45], [0.0, 0.0, 0.1, 0.3, 0.6]])
    rule, mae = choose_decoding(probs, np.array([3, 5]))
    assert (rule, mae) == ("expected", {"argmax": 1.0, "expected": 0.0})
    assert choose_decoding(probs, np.array([1, 5]))[0] == "argmax"
    assert choose_decoding(probs[1:], np.array([5]))[0] == "argmax"  # a tie


def test_the_decoding_dev_set_is_drawn_like_the_held_out_test_and_shares_no_text_with_it_or_training():
    train, test = authored_split()
    dev = decoding_dev()
    texts = {e.text for e in dev}
    assert len(texts) == len(dev) > 400
    assert not texts & ({e.text for e in test} | {e.text for e in short_test()})
    assert not texts & {e.text for e in train}
    assert not texts & {e.text for e in authored_dev()}
    # Mixed sentences with held-out nouns, as in the test (none of them occurs in training), both languages.
    for language in ("en", "zh"):
        mixed = [e for e in dev if e.language == language and e.mixed]
        nouns = _held_out_nouns(language)
        assert len(mixed) > 50
        assert all(any(n.lower() in e.text.lower() for n in nouns) for e in mixed)
