"""Compact torch weights (int8 matrices, fp16 vectors): what fine-tuning and the torch backend load from
a committed model directory that has no room for fp16 weights."""

from __future__ import annotations

from pathlib import Path

import torch
from transformers import BertConfig, BertForSequenceClassification

from services.sentiment.compact import COMPACT_WEIGHTS, load_classifier, save_compact


def tiny(directory: Path) -> BertForSequenceClassification:
    config = BertConfig(
        vocab_size=50,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=64,
        max_position_embeddings=16,
    )
    config.num_labels = 5
    torch.manual_seed(0)
    model = BertForSequenceClassification(config)
    model.eval()
    model.save_pretrained(str(directory))
    return model


def test_compact_weights_replace_the_fp16_file_and_load_back_close_to_the_original(tmp_path: Path):
    model = tiny(tmp_path)
    full = (tmp_path / "model.safetensors").stat().st_size
    path = save_compact(model, tmp_path)
    assert not (tmp_path / "model.safetensors").exists()
    assert path == tmp_path / COMPACT_WEIGHTS
    assert path.stat().st_size < full / 2.5
    loaded = load_classifier(tmp_path).eval()
    ids = torch.tensor([[1, 5, 9, 13, 2], [1, 7, 7, 2, 0]])
    with torch.no_grad():
        expected, got = model(input_ids=ids).logits, loaded(input_ids=ids).logits
    assert torch.allclose(expected, got, atol=0.05)
    assert (expected.argmax(1) == got.argmax(1)).all()


def test_without_compact_weights_the_checkpoint_is_loaded_as_saved(tmp_path: Path):
    model = tiny(tmp_path)
    loaded = load_classifier(tmp_path).eval()
    for name, value in model.state_dict().items():
        assert torch.equal(value, loaded.state_dict()[name]), name
