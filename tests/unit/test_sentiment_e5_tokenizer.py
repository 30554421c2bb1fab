"""The Unigram tokenizer built from an E5S1 vocabulary: normalization map, space handling, Viterbi over
the piece scores, unknown characters, and a round trip through transformers."""

from __future__ import annotations

from pathlib import Path

from tokenizers import normalizers
from transformers import AutoTokenizer

from services.sentiment.training.charsmap import precompiled_charsmap
from services.sentiment.training.e5format import E5Vocabulary
from services.sentiment.training.e5tokenizer import QUERY, build_tokenizer, content_ids, save
from tests.unit.test_sentiment_e5 import NORMALIZATION, PIECES


def tiny_vocabulary() -> E5Vocabulary:
    return E5Vocabulary([p for p, _ in PIECES], [s for _, s in PIECES], 0, 2, 1, 3, dict(NORMALIZATION))


def pieces_of(text: str, prefix: str = "") -> list[str]:
    tokenizer = build_tokenizer(tiny_vocabulary())
    return [str(tokenizer.id_to_token(i)) for i in content_ids(tokenizer, [text], prefix)[0]]


def test_charsmap_maps_every_listed_codepoint_and_leaves_every_other_one():
    mapping = {0x09: " ", 0x01: "", 0xFF21: "A", 0x2460: "1", 0x1F100: "0.", 0xFB01: "fi", 0x3000: " "}
    mapping |= {cp: chr(cp - 0xFEE0) for cp in range(0xFF01, 0xFF5E)}  # fullwidth ASCII
    # Sparse runs whose UTF-8 forms share lead bytes: a byte that is no child of one trie node must not
    # land on a same-labelled child of another.
    mapping |= {cp: "x" for cp in range(0x0600, 0x0700, 3)} | {cp: "" for cp in range(0x0370, 0x0380, 2)}
    normalizer = normalizers.Precompiled(precompiled_charsmap(mapping))
    for cp in [*range(0x3100), *range(0xFB00, 0x10000), 0x1F100, 0x1F600]:
        assert normalizer.normalize_str(chr(cp)) == mapping.get(cp, chr(cp)), hex(cp)


def test_best_scoring_segmentation_wins():
    # ▁hello (-5) beats ▁hell + o (-11.5); ▁world (-5.5) beats ▁wor + ld (-14.5)
    assert pieces_of("hello world") == ["▁hello", "▁world"]
    assert pieces_of("很好") == ["▁很", "好"]


def test_map_applies_codepoint_by_codepoint_then_spaces_collapse_and_turn_into_metaspace():
    assert pieces_of("\x01hello\t\n world") == ["▁hello", "▁world"]
    assert pieces_of("ＡＢ") == ["▁", "A", "B"]


def test_a_text_starting_with_a_space_gets_no_second_metaspace():
    assert pieces_of(" hello") == ["▁hello"]


def test_unknown_characters_become_unk_and_the_prefix_is_segmented_too():
    assert pieces_of("hello z", QUERY) == ["▁query", ":", "▁hello", "▁", "<unk>"]


def test_encodings_are_wrapped_in_bos_and_eos_and_reload_through_autotokenizer(tmp_path: Path):
    tokenizer = build_tokenizer(tiny_vocabulary())
    save(tokenizer, tmp_path, 32)
    loaded = AutoTokenizer.from_pretrained(str(tmp_path))
    ids = loaded("hello world")["input_ids"]
    assert ids == [0, tokenizer.token_to_id("▁hello"), tokenizer.token_to_id("▁world"), 2]
    assert (loaded.pad_token_id, loaded.unk_token_id, loaded.mask_token_id) == (1, 3, len(PIECES) - 1)
