"""The int8 export keeps embedding tables in fp16 (a lookup table quantized with one scale for all its
rows moved labels): the halved graph computes what the fp32 one does."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import numpy_helper

from services.sentiment.training import export
from tests.tiny_models import STARS, VOCAB, tiny_checkpoint


def test_halved_embedding_tables_are_fp16_cast_back_after_lookup_and_give_the_same_logits(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    directory = tiny_checkpoint(tmp_path / "m", STARS, onnx=True)
    monkeypatch.setattr(export, "EMBEDDING_ROWS", len(VOCAB))  # the tiny vocabulary counts as large
    halved = tmp_path / "halved.onnx"
    assert export.halve_embeddings(directory / "model.onnx", halved) == 1
    graph = onnx.load(str(halved)).graph
    tables = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    assert [name for name, t in tables.items() if t.dtype == np.float16] == [
        next(n.input[0] for n in graph.node if n.op_type == "Gather" and "word" in n.input[0])
    ]
    assert sum(n.op_type == "Cast" and n.name.endswith("_fp32") for n in graph.node) == 1
    rng = np.random.default_rng(0)
    feed = {
        "input_ids": rng.integers(1, len(VOCAB), (3, 8)).astype(np.int64),
        "attention_mask": np.ones((3, 8), dtype=np.int64),
        "token_type_ids": np.zeros((3, 8), dtype=np.int64),
    }
    full = ort.InferenceSession(str(directory / "model.onnx")).run(None, feed)[0]
    half = ort.InferenceSession(str(halved)).run(None, feed)[0]
    assert np.allclose(full, half, atol=1e-2)
    int8 = ort.InferenceSession(str(directory / "model.int8.onnx")).run(None, feed)[0]
    assert int8.shape == full.shape
