"""Tokenizer of the default model: BERT WordPiece, Chinese split by character, English by word pieces."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from tokenizers import BertWordPieceTokenizer
from transformers import BertTokenizerFast

VOCAB_SIZE = 8000


def train_tokenizer(texts: Iterable[str], out_dir: Path, vocab_size: int = VOCAB_SIZE) -> BertTokenizerFast:
    """Trains on `texts`; saves a transformers-loadable tokenizer (vocab.txt, tokenizer.json) in out_dir."""
    wordpiece = BertWordPieceTokenizer(
        clean_text=True, handle_chinese_chars=True, strip_accents=False, lowercase=True
    )
    wordpiece.train_from_iterator(
        texts,
        vocab_size=vocab_size,
        min_frequency=3,
        special_tokens=["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"],
        limit_alphabet=6000,
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    wordpiece.save_model(str(out_dir))
    tokenizer = BertTokenizerFast(
        vocab=str(out_dir / "vocab.txt"),
        do_lower_case=True,
        tokenize_chinese_chars=True,
        strip_accents=False,
    )
    tokenizer.model_max_length = 128
    tokenizer.save_pretrained(str(out_dir))
    return tokenizer
