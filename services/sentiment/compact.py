"""Torch weights small enough to commit beside the served ONNX file: matrices as int8 with a scale per
row, vectors as fp16.

The served model is the ONNX file; the torch weights are what fine-tuning on one's own data starts from
(`finetune --init-from models/sentiment/default`) and what the torch backend loads. Stored at fp16 they
would take the committed directory over its size limit, and an int8 start loses nothing that the first
steps of fine-tuning do not change anyway.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from transformers import PreTrainedModel

COMPACT_WEIGHTS = "model.int8.safetensors"
_SCALE = ".__scale"


def save_compact(model: PreTrainedModel, out: Path) -> Path:
    """Writes `model`'s weights to out/COMPACT_WEIGHTS (and its config) and removes a full-precision
    model.safetensors there; returns the file."""
    import torch
    from safetensors.torch import save_file

    tensors: dict[str, torch.Tensor] = {}
    for name, value in model.state_dict().items():
        weights = value.detach().float().cpu()
        if weights.ndim == 2:
            scale = weights.abs().amax(dim=1, keepdim=True).clamp(min=1e-8) / 127
            tensors[name] = torch.round(weights / scale).to(torch.int8).contiguous()
            tensors[name + _SCALE] = scale.half().contiguous()
        else:
            tensors[name] = weights.half().contiguous()
    model.config.save_pretrained(str(out))
    path = out / COMPACT_WEIGHTS
    save_file(tensors, str(path))
    (out / "model.safetensors").unlink(missing_ok=True)
    return path


def load_classifier(source: str | Path, **options: Any) -> Any:
    """A sequence classifier from `source`: its compact weights when it has them (dequantized, fp32),
    else `from_pretrained(source, **options)` (a directory or a hub id)."""
    import torch
    from transformers import AutoConfig, AutoModelForSequenceClassification

    path = Path(source) / COMPACT_WEIGHTS
    if not path.exists():
        return AutoModelForSequenceClassification.from_pretrained(str(source), **options)
    from safetensors.torch import load_file

    stored = load_file(str(path))
    state = {
        name: (value.float() * stored[name + _SCALE].float()) if name + _SCALE in stored else value.float()
        for name, value in stored.items()
        if not name.endswith(_SCALE)
    }
    config = AutoConfig.from_pretrained(str(source))
    model = AutoModelForSequenceClassification.from_config(config)  # type: ignore[no-untyped-call]
    missing, unexpected = model.load_state_dict(state, strict=False)
    # Tied or buffer entries (position ids) may be absent from a state dict; a weight may not.
    if unexpected or [m for m in missing if not m.endswith("position_ids")]:
        raise ValueError(f"{path}: missing {missing}, unexpected {unexpected}")
    return model.to(torch.float32)
