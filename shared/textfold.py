"""Traditional Chinese folded to Simplified (OpenCC's `t2s`) wherever text is read rather than kept: the
sentiment model's input, aspect keywords and alert-rule keywords. The model was trained, and keyword
lists are written, in Simplified; 「車門生銹了」 then reads as 车门生锈了. Published text is never changed."""

from __future__ import annotations

import threading

import opencc

_local = threading.local()


def _converter() -> opencc.OpenCC:
    # One converter per thread: the binding does not say its convert() may be shared across threads
    # (aspect tagging runs in worker threads), and building one takes milliseconds.
    converter: opencc.OpenCC | None = getattr(_local, "converter", None)
    if converter is None:
        converter = _local.converter = opencc.OpenCC("t2s")
    return converter


def to_simplified(text: str) -> str:
    """`text` with Traditional characters and phrases in their Simplified forms; ASCII as it is."""
    if text.isascii():
        return text
    folded: str = _converter().convert(text)
    return folded
