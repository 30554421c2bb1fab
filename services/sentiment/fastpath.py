"""Any Hugging Face BERT sequence-classification checkpoint served through ONNX Runtime, not torch.

On first load the checkpoint is exported (fp32 and int8) into a cache keyed by its content; int8 is
served where its labels agree with fp32 torch on at least AGREEMENT_FLOOR of the probe texts, fp32
otherwise. Later loads, and other replicas sharing the cache, start from the cached files without torch.
A checkpoint the exporter does not know (not BERT, no fast tokenizer) is served by torch as before.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import structlog

log = structlog.get_logger(__name__)
AGREEMENT_FLOOR = 0.99
CHOICE = "fastpath.json"
WEIGHTS = ("config.json", "model.safetensors", "pytorch_model.bin", "tokenizer.json")


class NotExportable(RuntimeError):
    """The checkpoint cannot take the ONNX path; the message says why (it is served by torch)."""


def cache_key(source: str) -> str:
    """The checkpoint's content for a directory (config, weights, tokenizer), its id for a hub model."""
    digest = hashlib.sha256()
    directory = Path(source)
    if directory.is_dir():
        for name in WEIGHTS:
            if (path := directory / name).exists():
                digest.update(name.encode() + b"\0" + path.read_bytes())
    else:
        digest.update(b"hub\0" + source.encode())
    return digest.hexdigest()[:16]


def cached_export(source: str, cache: Path) -> tuple[Path, dict[str, Any]]:
    """The directory of the checkpoint's ONNX files and what was chosen ({"backend", "agreement", ...}),
    exporting on the first call. Raises NotExportable when the checkpoint cannot take this path."""
    target = cache / cache_key(source)
    if (target / CHOICE).exists():
        return target, json.loads((target / CHOICE).read_text())
    cache.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".export-", dir=cache))
    try:
        choice = _export(source, work)
        (work / CHOICE).write_text(json.dumps(choice, indent=2) + "\n")
        try:
            os.rename(work, target)  # atomic: a replica exporting at the same time keeps its own copy
        except OSError:
            if not (target / CHOICE).exists():
                raise
        log.info("sentiment_model_exported", cache=str(target), **choice)
        return target, json.loads((target / CHOICE).read_text())
    finally:
        shutil.rmtree(work, ignore_errors=True)


def probe_texts() -> list[str]:
    """Authored sentences of both languages and every star level, on which int8 must agree with fp32.
    The authored set lives with the training pipeline, which exporting needs anyway (torch, onnx)."""
    from services.sentiment.training.authored import generate

    examples = generate("en", 100, held_out=True, seed=41) + generate("zh", 100, held_out=True, seed=42)
    return [example.text for example in examples]


def _export(source: str, work: Path) -> dict[str, Any]:
    try:
        import torch
        from transformers import AutoTokenizer

        from services.sentiment.compact import load_classifier
        from services.sentiment.training.export import export_onnx

        texts = probe_texts()
    except ImportError as exc:
        raise NotExportable(f"exporting needs torch and onnx (the 'train' extra): {exc}") from exc
    tokenizer = AutoTokenizer.from_pretrained(source)
    model = load_classifier(source, dtype=torch.float32).eval()
    if model.config.model_type != "bert" or not tokenizer.is_fast:
        raise NotExportable(f"{model.config.model_type} model, fast tokenizer: {tokenizer.is_fast}")
    model.save_pretrained(str(work))
    tokenizer.save_pretrained(str(work))
    export_onnx(model, work)
    length = min(128, int(model.config.max_position_embeddings))
    with torch.inference_mode():
        encoded = tokenizer(texts, padding=True, truncation=True, max_length=length, return_tensors="pt")
        reference = model(**encoded).logits.argmax(-1).numpy()
    agreement = {name: _agreement(work, name, texts, reference, length) for name in ("onnx-int8", "onnx")}
    backend = "onnx-int8" if agreement["onnx-int8"] >= AGREEMENT_FLOOR else "onnx"
    for weights in ("model.safetensors", "pytorch_model.bin"):
        (work / weights).unlink(missing_ok=True)  # served from ONNX; the checkpoint stays where it was
    return {"backend": backend, "agreement": agreement, "probes": len(texts), "source": source}


def _agreement(work: Path, backend: str, texts: list[str], reference: np.ndarray, length: int) -> float:
    from services.sentiment.backends import OnnxBackend

    onnx = OnnxBackend(work, backend, length, threads=1)  # type: ignore[arg-type]
    labels = onnx.probabilities(onnx.encode(texts)).argmax(1)
    return float(np.mean(labels == reference))
