"""Shape of the default model and its 5-star label schema."""

from __future__ import annotations

from transformers import BertConfig

MAX_LENGTH = 128
STAR_LABELS = {0: "1 star", 1: "2 stars", 2: "3 stars", 3: "4 stars", 4: "5 stars"}


def compact_config(vocab_size: int, **overrides: int) -> BertConfig:
    """4 layers x 256 hidden: small enough for CPU serving, deep enough to benefit from pretraining."""
    shape = {
        "hidden_size": 256,
        "num_hidden_layers": 4,
        "num_attention_heads": 4,
        "intermediate_size": 1024,
        "max_position_embeddings": MAX_LENGTH,
    } | overrides
    return BertConfig(
        vocab_size=vocab_size,
        id2label=STAR_LABELS,
        label2id={v: k for k, v in STAR_LABELS.items()},
        **shape,
    )
