"""Vocabulary pruning: keep the pieces a corpus uses, renumber them, and slice the embedding rows to match.

multilingual-e5-small spends 250 k of its ~117 M weights' rows on the word-embedding matrix, most of
them pieces of scripts the feedback never contains. A Unigram tokenizer restricted to a subset of its
pieces segments any text whose best segmentation uses only kept pieces exactly as before (that path is
still there and nothing better was added), so on the corpus the pruned model computes the same thing.
The lowest-scoring piece is kept too: the score of an unknown character is derived from it, and a
changed unknown score could change which segmentation wins.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from itertools import islice
from typing import Any

import torch
from tokenizers import Tokenizer
from transformers import BertModel

from services.sentiment.training.e5tokenizer import PASSAGE, QUERY, SPECIALS


def used_ids(
    tokenizer: Tokenizer, texts: Iterable[str], prefixes: Sequence[str] = (QUERY, PASSAGE), batch: int = 4096
) -> set[int]:
    """Every piece id the tokenizer produces for `prefix + text`, for each prefix and text."""
    used: set[int] = set()
    iterator = iter(texts)
    while chunk := list(islice(iterator, batch)):
        for prefix in prefixes:
            for encoding in tokenizer.encode_batch([prefix + text for text in chunk]):
                used.update(encoding.ids)
    return used


def kept_ids(tokenizer: Tokenizer, used: Iterable[int]) -> list[int]:
    """Old ids to keep, ascending (so the special tokens at the start keep their ids): the used ones,
    the special tokens and the lowest-scoring piece."""
    vocab = json.loads(tokenizer.to_str())["model"]["vocab"]
    specials = {i for i in map(tokenizer.token_to_id, SPECIALS) if i is not None}
    lowest = min(range(len(vocab)), key=lambda i: (vocab[i][1], i))
    return sorted(set(used) | specials | {lowest})


def _remap_ids(node: Any, new_id: dict[int, int]) -> None:
    """Renumbers the ids the post-processor's special tokens carry (TemplateProcessing's "ids" lists)."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "ids" and isinstance(value, list):
                node[key] = [new_id[i] for i in value]
            else:
                _remap_ids(value, new_id)
    elif isinstance(node, list):
        for item in node:
            _remap_ids(item, new_id)


def prune_tokenizer(tokenizer: Tokenizer, kept: Sequence[int]) -> Tokenizer:
    """The same pipeline over the kept pieces only; the piece with old id kept[i] gets id i."""
    state = json.loads(tokenizer.to_str())
    new_id = {old: new for new, old in enumerate(kept)}
    model = state["model"]
    if model.get("type") != "Unigram":
        raise ValueError(f"pruning knows Unigram tokenizers, not {model.get('type')}")
    model["vocab"] = [model["vocab"][old] for old in kept]
    model["unk_id"] = new_id[model["unk_id"]]
    for token in state["added_tokens"]:
        token["id"] = new_id[token["id"]]
    _remap_ids(state.get("post_processor"), new_id)
    return Tokenizer.from_str(json.dumps(state))


def prune_model(model: BertModel, kept: Sequence[int]) -> BertModel:
    """Keeps the embedding rows of the kept ids, in their new order (in place; returns the model)."""
    old = model.get_input_embeddings().weight.detach()
    pad = model.config.pad_token_id
    new_pad = kept.index(pad) if pad is not None and pad in kept else None
    rows = torch.nn.Embedding(len(kept), old.shape[1], padding_idx=new_pad)
    with torch.no_grad():
        rows.weight.copy_(old[torch.tensor(list(kept), dtype=torch.long)])
    model.set_input_embeddings(rows)
    model.config.vocab_size = len(kept)
    model.config.pad_token_id = new_pad
    return model


def prune(
    model: BertModel, tokenizer: Tokenizer, texts: Iterable[str], prefixes: Sequence[str] = (QUERY, PASSAGE)
) -> tuple[BertModel, Tokenizer, list[int]]:
    """Model and tokenizer restricted to the pieces `texts` use; also the kept old ids."""
    kept = kept_ids(tokenizer, used_ids(tokenizer, texts, prefixes))
    return prune_model(model, kept), prune_tokenizer(tokenizer, kept), kept
