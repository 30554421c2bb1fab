"""Any Hugging Face BERT checkpoint is served through ONNX Runtime: exported on first load into a cache
keyed by its content, int8 where it agrees with fp32 torch, and loaded from the cache afterwards."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from transformers import BertForSequenceClassification

from services.sentiment import fastpath
from services.sentiment.backends import TorchBackend, _plain_checkpoint, load_model
from services.sentiment.training.e5tokenizer import build_tokenizer, save
from tests.unit.test_sentiment_e5_prune import tiny_model
from tests.unit.test_sentiment_e5_tokenizer import tiny_vocabulary

TEXTS = ["hello world", "很好", "hello"]


def checkpoint(directory: Path, seed: int = 0) -> Path:
    config = tiny_model().config
    config.id2label = {i: f"{i + 1} stars" for i in range(5)}
    torch.manual_seed(seed)
    BertForSequenceClassification(config).eval().save_pretrained(str(directory))
    save(build_tokenizer(tiny_vocabulary()), directory, 32)
    return directory


def test_a_plain_checkpoint_is_exported_once_and_served_by_onnx_like_torch(tmp_path, monkeypatch):
    source, cache = checkpoint(tmp_path / "mine"), tmp_path / "cache"
    loaded = load_model(str(source), "auto", max_length=32, onnx_cache=cache)
    assert loaded.backend.name in ("onnx-int8", "onnx")
    assert loaded.id == "mine"
    choice = loaded.card["fastpath"]
    assert choice["backend"] == loaded.backend.name
    assert choice["probes"] == 200
    if loaded.backend.name == "onnx-int8":
        assert choice["agreement"]["onnx-int8"] >= fastpath.AGREEMENT_FLOOR
    torch_backend = TorchBackend(str(source), 32, 1)
    expected = torch_backend.probabilities(torch_backend.encode(TEXTS))
    served = loaded.backend.probabilities(loaded.backend.encode(TEXTS))
    np.testing.assert_allclose(served, expected, atol=0.05)
    [exported] = list(cache.iterdir())
    assert json.loads((exported / fastpath.CHOICE).read_text()) == choice
    assert not (exported / "model.safetensors").exists()

    def no_second_export(*_: object) -> None:
        raise AssertionError("exported again")

    monkeypatch.setattr(fastpath, "_export", no_second_export)
    again = load_model(str(source), "auto", max_length=32, onnx_cache=cache)
    assert (again.backend.name, again.version) == (loaded.backend.name, loaded.version)


def test_changed_weights_are_exported_anew(tmp_path):
    cache = tmp_path / "cache"
    first = fastpath.cache_key(str(checkpoint(tmp_path / "a", seed=0)))
    second = fastpath.cache_key(str(checkpoint(tmp_path / "b", seed=1)))
    assert first != second
    assert fastpath.cache_key(str(checkpoint(tmp_path / "c", seed=0))) == first
    assert not cache.exists()


def test_without_a_cache_or_with_a_torch_choice_the_checkpoint_is_served_by_torch(tmp_path):
    source = checkpoint(tmp_path / "mine")
    assert load_model(str(source), "auto", max_length=32).backend.name == "torch"
    cache = tmp_path / "cache"
    assert load_model(str(source), "torch", max_length=32, onnx_cache=cache).backend.name == "torch"
    assert not cache.exists()


def test_a_checkpoint_the_exporter_does_not_know_is_served_by_torch(tmp_path, monkeypatch):
    def refuse(source: str, work: Path) -> dict[str, object]:
        raise fastpath.NotExportable("roberta model")

    monkeypatch.setattr(fastpath, "_export", refuse)
    source, cache = checkpoint(tmp_path / "mine"), tmp_path / "cache"
    loaded = load_model(str(source), "auto", max_length=32, onnx_cache=cache)
    assert loaded.backend.name == "torch"
    assert [p.name for p in cache.iterdir()] == []  # the failed attempt left nothing behind


@pytest.mark.parametrize("name", ["serving.json", "model.int8.onnx"])
def test_a_directory_the_pipeline_built_is_never_re_exported(tmp_path, name):
    source = checkpoint(tmp_path / "built")
    (source / name).write_text("{}")
    assert not _plain_checkpoint(source, str(source))
    assert _plain_checkpoint(tmp_path / "absent", "someone/bert-reviews")  # a hub id
