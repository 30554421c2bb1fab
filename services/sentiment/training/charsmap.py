"""A per-codepoint normalization map compiled into SentencePiece's precompiled charsmap, the form that
`tokenizers.normalizers.Precompiled` (and so a saved tokenizer.json) takes.

The charsmap is a uint32 byte count, a darts-clone double-array trie over the UTF-8 keys, then the
NUL-terminated replacement strings the trie's values point into. Nothing on PyPI compiles one outside
SentencePiece's trainer (whose Python binding does not expose it), hence this small builder.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from dataclasses import dataclass, field

_LEAF_BIT = 1 << 8
_VALUE_BIT = 1 << 31
_MAX_OFFSET = 1 << 21  # offsets below this are stored as they are; the builder never needs larger ones
_BLOCK = 256


@dataclass
class _Node:
    children: dict[int, _Node] = field(default_factory=dict)
    value: int | None = None


def _trie(entries: Mapping[bytes, int]) -> _Node:
    root = _Node()
    for key, value in entries.items():
        node = root
        for byte in key:
            node = node.children.setdefault(byte, _Node())
        node.value = value
    return root


class _DoubleArray:
    """Units laid out as darts-clone's reader expects: a child of the node at `pos` with label c sits at
    pos ^ offset ^ c; a node's value (when it has one) at pos ^ offset, flagged by bit 31. No two nodes
    share a base: the reader checks only the label, so a shared base would let a byte that is no child
    of one node land on a same-labelled child of the other."""

    def __init__(self) -> None:
        self.units: list[int] = [0]
        self.free: set[int] = set()
        self.bases: set[int] = set()

    def _free_base(self, labels: list[int]) -> int:
        """First fit among the free units; else a fresh block past the end."""
        for position in sorted(self.free):
            base = position ^ labels[0]
            if base not in self.bases and all(base ^ label in self.free for label in labels):
                return base
        return (len(self.units) // _BLOCK + 1) * _BLOCK

    def place(self, node: _Node, pos: int) -> None:
        labels = ([0] if node.value is not None else []) + sorted(node.children)
        if not labels:
            return
        base = self._free_base(labels)
        if pos ^ base >= _MAX_OFFSET:
            raise ValueError("normalization map too large for a single-level darts offset")
        slots = [base ^ label for label in labels]
        needed = (max(slots) // _BLOCK + 1) * _BLOCK  # the reader may probe anywhere in the block
        self.free.update(range(len(self.units), needed))
        self.units.extend([0] * (needed - len(self.units)))
        self.free.difference_update(slots)
        self.bases.add(base)
        self.units[pos] |= (pos ^ base) << 10 | (_LEAF_BIT if node.value is not None else 0)
        if node.value is not None:
            self.units[base] = node.value | _VALUE_BIT
        for label in node.children:
            self.units[base ^ label] = label
        for label, child in node.children.items():
            self.place(child, base ^ label)


def precompiled_charsmap(normalization: Mapping[int, str]) -> bytes:
    """The charsmap replacing each codepoint of `normalization` by its string (empty: removed)."""
    blob = bytearray()
    entries: dict[bytes, int] = {}
    for codepoint, replacement in sorted(normalization.items()):
        entries[chr(codepoint).encode("utf-8")] = len(blob)
        blob += replacement.encode("utf-8") + b"\0"
    array = _DoubleArray()
    array.place(_trie(entries), 0)
    trie = struct.pack(f"<{len(array.units)}I", *array.units)
    return struct.pack("<I", len(trie)) + trie + bytes(blob)
