"""Masked-LM pretraining leaves a self-contained checkpoint that a later run continues from, so
pretraining budgets (a CPU session's, an accelerator's) add up."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from transformers import BertForMaskedLM, BertTokenizerFast  # type: ignore[attr-defined]

from services.sentiment.training.modelspec import compact_config
from services.sentiment.training.pretrain import STATS, pretrain
from services.sentiment.training.tokenizer import train_tokenizer

TEXTS = ["包装破损但客服很专业", "外观漂亮，可惜续航太短", "The delivery was two days late"] * 100


def distance(a: torch.nn.Module, b: torch.nn.Module) -> float:
    with torch.no_grad():
        pairs = zip(a.parameters(), b.parameters(), strict=True)
        return sum(float((x - y).pow(2).sum()) for x, y in pairs)


def test_a_resumed_run_starts_from_the_checkpoint_not_from_random_weights(tmp_path: Path):
    tokenizer = train_tokenizer(TEXTS, tmp_path / "tokenizer", vocab_size=200)
    pretrain(tokenizer, TEXTS, tmp_path / "first", minutes=0.01, batch_size=4, device="cpu")
    first = BertForMaskedLM.from_pretrained(str(tmp_path / "first"))
    saved = BertTokenizerFast.from_pretrained(str(tmp_path / "first"))
    assert saved.get_vocab() == tokenizer.get_vocab()

    pretrain(
        saved, TEXTS, tmp_path / "second", minutes=0.01, batch_size=4, lr=1e-6, resume=tmp_path / "first"
    )
    second = BertForMaskedLM.from_pretrained(str(tmp_path / "second"))
    torch.manual_seed(1)
    fresh = BertForMaskedLM(compact_config(len(tokenizer)))
    assert 0 < distance(second, first) < distance(fresh, first) / 100

    # What each run cost adds up across resumed runs, for the model card.
    first_stats = json.loads((tmp_path / "first" / STATS).read_text())
    second_stats = json.loads((tmp_path / "second" / STATS).read_text())
    assert first_stats["steps"] >= 1
    assert first_stats["final_loss"] > 0
    assert second_stats["steps"] > first_stats["steps"]
    assert second_stats["minutes"] == pytest.approx(0.02)
    assert (first_stats["runs"], second_stats["runs"]) == (1, 2)
