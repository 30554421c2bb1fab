"""Inference backends: ONNX Runtime (fp32 or int8, the default model's serving path) and torch (any
Hugging Face sequence-classification checkpoint, or the default model's fp32 weights).

torch and the transformers model classes are imported only by the torch backend, so serving the
default model needs neither.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

import numpy as np
import structlog

if TYPE_CHECKING:
    import onnxruntime as ort

from services.sentiment.blend import BLEND_FILE, NgramBlend, load_blend, tilted
from services.sentiment.compact import load_classifier
from services.sentiment.labels import STAR_DECODINGS, LabelMap, label_map

log = structlog.get_logger(__name__)

BackendName = Literal["onnx-int8", "onnx", "torch"]
ONNX_FILES: dict[str, str] = {"onnx-int8": "model.int8.onnx", "onnx": "model.onnx"}


class ModelUnavailable(RuntimeError):
    """The model could not be loaded; the message names the path or id and the reason."""


@dataclass(frozen=True)
class Encoded:
    ids: np.ndarray
    mask: np.ndarray
    truncated: list[bool]
    tilts: np.ndarray | None = None
    """Each row's polarity log-odds shift from the model's blend (services.sentiment.blend), if it has one."""


@dataclass(frozen=True)
class Tokens:
    """One text's token ids (already cut to the model's length) and whether it was cut."""

    ids: Sequence[int]
    truncated: bool
    tilt: float = 0.0


def pad(rows: Sequence[Tokens], pad_id: int) -> Encoded:
    """Right-pads rows to the longest one, with the attention mask."""
    width = max(len(r.ids) for r in rows)
    ids = np.full((len(rows), width), pad_id, dtype=np.int64)
    mask = np.zeros((len(rows), width), dtype=np.int64)
    for row, r in enumerate(rows):
        ids[row, : len(r.ids)] = r.ids
        mask[row, : len(r.ids)] = 1
    tilts = np.array([r.tilt for r in rows])
    return Encoded(ids, mask, [r.truncated for r in rows], tilts if tilts.any() else None)


def blended(blend: NgramBlend | None, texts: Sequence[str], rows: list[Tokens]) -> list[Tokens]:
    """`rows` with each text's tilt from `blend` (unchanged without one)."""
    if blend is None:
        return rows
    return [replace(row, tilt=blend.tilt(text)) for row, text in zip(rows, texts, strict=True)]


def _probabilities(logits: np.ndarray, encoded: Encoded) -> np.ndarray:
    probs = _softmax(logits)
    return probs if encoded.tilts is None else tilted(probs, encoded.tilts)


class Backend(Protocol):
    name: BackendName
    pad_id: int

    def tokenize(self, texts: Sequence[str]) -> list[Tokens]: ...

    def encode(self, texts: Sequence[str]) -> Encoded:
        """tokenize + pad: one model input for `texts`."""
        ...

    def probabilities(self, encoded: Encoded) -> np.ndarray:
        """(n, num_labels) class probabilities; CPU-bound, call it off the event loop."""
        ...


def _softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max(1, keepdims=True))
    return np.asarray(shifted / shifted.sum(1, keepdims=True), dtype=np.float32)


def onnx_session(path: Path, threads: int) -> ort.InferenceSession:
    """An ONNX Runtime CPU session as the service runs one (the benchmark measures the same)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(
        str(path),
        options,
        providers=["CPUExecutionProvider"],
        # ONNX Runtime's CPU SkipLayerNormalization kernel is slower than the Add and
        # LayerNormalization it replaces (profiled on small BERTs): without this fusion the
        # default model serves more texts per second.
        disabled_optimizers=["SkipLayerNormFusion"],
    )


class OnnxBackend:
    def __init__(self, directory: Path, name: BackendName, max_length: int, threads: int) -> None:
        from tokenizers import Tokenizer

        self.name = name
        self.tokenizer = Tokenizer.from_file(str(directory / "tokenizer.json"))
        self.tokenizer.enable_truncation(max_length)
        # A saved tokenizer.json may carry a padding setting; padding (and the mask) are done here.
        self.tokenizer.no_padding()
        self.pad_id = next(
            (i for t in ("[PAD]", "<pad>") if (i := self.tokenizer.token_to_id(t)) is not None), 0
        )
        self.session = onnx_session(directory / ONNX_FILES[name], threads)
        self.blend = load_blend(directory)

    def tokenize(self, texts: Sequence[str]) -> list[Tokens]:
        rows = [Tokens(e.ids, bool(e.overflowing)) for e in self.tokenizer.encode_batch(list(texts))]
        return blended(self.blend, texts, rows)

    def encode(self, texts: Sequence[str]) -> Encoded:
        return pad(self.tokenize(texts), self.pad_id)

    def probabilities(self, encoded: Encoded) -> np.ndarray:
        feeds = {
            "input_ids": encoded.ids,
            "attention_mask": encoded.mask,
            "token_type_ids": np.zeros_like(encoded.ids),
        }
        (logits,) = self.session.run(["logits"], feeds)
        return _probabilities(np.asarray(logits), encoded)


class TorchBackend:
    name: BackendName = "torch"

    def __init__(self, source: str, max_length: int, threads: int) -> None:
        try:
            import torch
            from transformers import AutoTokenizer
        except ImportError as exc:
            raise ModelUnavailable(
                f"{source}: the torch backend needs torch (install the 'train' extra)"
            ) from exc
        torch.set_num_threads(threads)
        self._torch = torch
        self.tokenizer = AutoTokenizer.from_pretrained(source)
        self.model = load_classifier(source).eval()
        self.max_length = min(
            max_length, int(getattr(self.model.config, "max_position_embeddings", max_length))
        )
        self.pad_id = int(self.tokenizer.pad_token_id or 0)
        self.blend = load_blend(Path(source)) if Path(source).is_dir() else None

    def tokenize(self, texts: Sequence[str]) -> list[Tokens]:
        full = self.tokenizer(list(texts), truncation=False)["input_ids"]
        cut = self.tokenizer(list(texts), truncation=True, max_length=self.max_length)["input_ids"]
        rows = [Tokens(ids, len(whole) > self.max_length) for ids, whole in zip(cut, full, strict=True)]
        return blended(self.blend, texts, rows)

    def encode(self, texts: Sequence[str]) -> Encoded:
        return pad(self.tokenize(texts), self.pad_id)

    def probabilities(self, encoded: Encoded) -> np.ndarray:
        torch = self._torch
        with torch.inference_mode():
            logits = self.model(
                input_ids=torch.from_numpy(encoded.ids), attention_mask=torch.from_numpy(encoded.mask)
            ).logits
        return _probabilities(logits.float().numpy(), encoded)


@dataclass(frozen=True)
class LoadedModel:
    id: str
    version: str
    backend: Backend
    labels: LabelMap
    id2label: dict[int, str]
    card: dict[str, Any]
    """serving.json of a directory built by the training pipeline (metrics, agreement); {} otherwise."""


def _version(directory: Path, files: Sequence[str]) -> str:
    digest = hashlib.sha256()
    for name in files:
        path = directory / name
        if path.exists():
            digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def load_model(
    source: str,
    backend: BackendName | Literal["auto"],
    *,
    max_length: int = 128,
    threads: int = 1,
    onnx_cache: Path | None = None,
) -> LoadedModel:
    """Loads a local directory or a hub id. `auto` takes the backend recorded by the training pipeline
    (serving.json), else int8 ONNX when present; any other checkpoint is exported to ONNX into
    `onnx_cache` on first load (services.sentiment.fastpath), or served by torch where it cannot be
    (or without a cache). Raises ModelUnavailable with the reason."""
    directory = Path(source)
    card: dict[str, Any] = {}
    if backend == "auto" and onnx_cache is not None and _plain_checkpoint(directory, source):
        exported = _exported(source, onnx_cache)
        if exported is not None:
            found = load_model(str(exported[0]), exported[1], max_length=max_length, threads=threads)
            return replace(found, id=source.rstrip("/").rsplit("/", 1)[-1], card={"fastpath": exported[2]})
    try:
        if directory.is_dir():
            if (directory / "serving.json").exists():
                card = json.loads((directory / "serving.json").read_text())
            config = json.loads((directory / "config.json").read_text())
            chosen: BackendName = (
                backend
                if backend != "auto"
                else card.get("backend")
                or ("onnx-int8" if (directory / ONNX_FILES["onnx-int8"]).exists() else "torch")
            )
            files = [ONNX_FILES.get(chosen, "model.safetensors"), "tokenizer.json", "config.json"]
            version = card.get("version") or _version(directory, files)
            model_id = card.get("id") or directory.name
        elif backend in ("auto", "torch") and not source.startswith(("/", ".")):
            chosen, config, version, model_id = "torch", {}, "hub", source
        else:
            raise ModelUnavailable(f"{source}: no such model directory")
        max_length = min(max_length, int(config.get("max_position_embeddings", max_length)))
        impl: Backend = (
            TorchBackend(source, max_length, threads)
            if chosen == "torch"
            else OnnxBackend(directory, chosen, max_length, threads)
        )
        if chosen == "torch":
            config = {"id2label": dict(impl.model.config.id2label)}  # type: ignore[attr-defined]
        id2label = {int(k): str(v) for k, v in config["id2label"].items()}
        labels = label_map(id2label)
        if labels.schema != "stars5" and getattr(impl, "blend", None) is not None:
            raise ModelUnavailable(f"{source}: a blend ({BLEND_FILE}) applies to 5-star models only")
        if labels.schema == "stars5" and card.get("star_decoding") in STAR_DECODINGS:
            labels = replace(labels, decoding=card["star_decoding"])
        return LoadedModel(model_id, version, impl, labels, id2label, card)
    except ModelUnavailable:
        raise
    except Exception as exc:
        raise ModelUnavailable(f"{source}: {type(exc).__name__}: {exc}") from exc


def _plain_checkpoint(directory: Path, source: str) -> bool:
    """A checkpoint the training pipeline did not build: no serving.json and no ONNX file (a hub id too)."""
    if not directory.is_dir():
        return not source.startswith(("/", "."))
    if (directory / "serving.json").exists():
        return False
    return not any((directory / name).exists() for name in ONNX_FILES.values())


def _exported(source: str, cache: Path) -> tuple[Path, BackendName, dict[str, Any]] | None:
    """The cached ONNX export of `source` and its backend; None (torch serves it) when not exportable."""
    from services.sentiment.fastpath import NotExportable, cached_export

    try:
        directory, choice = cached_export(source, cache)
    except NotExportable as exc:
        log.warning("sentiment_model_not_exportable", source=source, reason=str(exc))
        return None
    return directory, choice["backend"], choice
