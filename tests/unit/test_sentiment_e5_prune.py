"""Vocabulary pruning on a tiny model: kept pieces, renumbered ids, and identical embeddings on the corpus."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from transformers import AutoTokenizer, BertConfig, BertModel

from services.sentiment.training.e5convert import embed
from services.sentiment.training.e5tokenizer import QUERY, as_transformers, build_tokenizer, content_ids, save
from services.sentiment.training.prune import prune
from tests.unit.test_sentiment_e5 import PIECES
from tests.unit.test_sentiment_e5_tokenizer import tiny_vocabulary

CORPUS = ["hello world", "很好", "hello"]


def tiny_model() -> BertModel:
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=len(PIECES) + 3,  # like e5: a few embedding rows past the last piece
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=32,
        pad_token_id=1,
    )
    model = BertModel(config, add_pooling_layer=False)
    model.eval()
    return model


def test_pruning_keeps_the_used_pieces_the_specials_and_the_lowest_scoring_piece():
    full = build_tokenizer(tiny_vocabulary())
    _, pruned, kept = prune(tiny_model(), full, CORPUS)
    kept_pieces = {full.id_to_token(i) for i in kept}
    used = {"▁passage", "▁query", ":", "▁hello", "▁world", "▁很", "好"}
    assert kept_pieces == used | {"<s>", "<pad>", "</s>", "<unk>", "<mask>", "▁wor"}  # ▁wor scores lowest
    assert pruned.get_vocab_size() == len(kept) < len(PIECES)
    assert [pruned.token_to_id(t) for t in ("<s>", "<pad>", "</s>", "<unk>")] == [0, 1, 2, 3]
    assert pruned.token_to_id("<mask>") == len(kept) - 1


def test_pruned_model_embeds_corpus_texts_exactly_as_the_full_one(tmp_path: Path):
    full_tokenizer, model = build_tokenizer(tiny_vocabulary()), tiny_model()
    before = embed(model, as_transformers(full_tokenizer, 32), CORPUS, QUERY)
    rows = model.get_input_embeddings().weight.detach().clone()
    model, pruned, kept = prune(model, full_tokenizer, CORPUS)
    assert torch.equal(model.get_input_embeddings().weight, rows[kept])
    assert model.config.vocab_size == len(kept)
    assert model.config.pad_token_id == 1
    save(pruned, tmp_path, 32)
    after = embed(model, AutoTokenizer.from_pretrained(str(tmp_path)), CORPUS, QUERY)
    np.testing.assert_array_equal(before, after)
    renumbered = [[kept[i] for i in ids] for ids in content_ids(pruned, CORPUS, QUERY)]
    assert renumbered == content_ids(full_tokenizer, CORPUS, QUERY)


def test_text_outside_the_corpus_falls_back_to_kept_pieces_or_unk():
    _, pruned, _ = prune(tiny_model(), build_tokenizer(tiny_vocabulary()), CORPUS)
    ids = content_ids(pruned, ["hell 很"], QUERY)[0]
    # Neither ▁hell nor its characters were kept: one (fused) unknown, then a kept piece.
    assert [pruned.id_to_token(i) for i in ids] == ["▁query", ":", "<unk>", "▁很"]
