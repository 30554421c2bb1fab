"""Export to ONNX (fp32) and dynamic int8 quantization (per-channel weights) for ONNX Runtime serving."""

from __future__ import annotations

from pathlib import Path

import torch
from onnxruntime.quantization import QuantType, quantize_dynamic
from transformers import BertForSequenceClassification

INPUTS = ("input_ids", "attention_mask", "token_type_ids")


class _LogitsOnly(torch.nn.Module):
    def __init__(self, model: BertForSequenceClassification) -> None:
        super().__init__()
        self.model = model

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, token_type_ids: torch.Tensor
    ) -> torch.Tensor:
        # The additive padding mask is built here rather than by transformers' mask helpers, whose
        # data-dependent shortcuts do not survive export: padded rows then attended to padding.
        bert = self.model.bert
        hidden = bert.embeddings(input_ids=input_ids, token_type_ids=token_type_ids)
        blocked = (1.0 - attention_mask[:, None, None, :].to(hidden.dtype)) * torch.finfo(hidden.dtype).min
        hidden = bert.encoder(hidden, attention_mask=blocked).last_hidden_state
        return self.model.classifier(bert.pooler(hidden))  # type: ignore[misc]


def export_onnx(model: BertForSequenceClassification, out_dir: Path) -> tuple[Path, Path]:
    """Writes model.onnx (fp32) and model.int8.onnx; returns both paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    fp32, int8 = out_dir / "model.onnx", out_dir / "model.int8.onnx"
    model.eval()
    # A padded row in the sample keeps the attention-mask path in the exported graph.
    sample = torch.randint(5, model.config.vocab_size, (2, 16))
    mask = torch.ones_like(sample)
    mask[0, -3:] = 0
    dynamic = {name: {0: "batch", 1: "sequence"} for name in INPUTS}
    torch.onnx.export(
        _LogitsOnly(model),
        (sample, mask, torch.zeros_like(sample)),
        str(fp32),
        input_names=list(INPUTS),
        output_names=["logits"],
        dynamic_axes={**dynamic, "logits": {0: "batch"}},
        opset_version=18,
        dynamo=True,
        external_data=False,
    )
    quantize_dynamic(str(fp32), str(int8), per_channel=True, weight_type=QuantType.QInt8)
    return fp32, int8
