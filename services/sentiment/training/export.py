"""Export to ONNX (fp32), graph fusions, and dynamic int8 quantization (per-channel weights) for ONNX
Runtime serving."""

from __future__ import annotations

from pathlib import Path

import torch
from onnx import TensorProto
from onnxruntime.quantization import QuantType, quantize_dynamic
from onnxruntime.transformers import optimizer
from onnxruntime.transformers.fusion_options import FusionOptions
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


def fuse(path: Path, num_heads: int, hidden_size: int) -> None:
    """Rewrites the fp32 graph in place with ONNX Runtime's BERT fusions: GELU's erf subgraph and the
    bias before it become one FastGelu (the tanh approximation of GELU; label agreement with fp32 torch
    is measured by the build like any other export difference), and LayerNorm subgraphs one
    LayerNormalization. The residual add + LayerNorm is left unfused: ONNX Runtime's CPU
    SkipLayerNormalization kernel is slower than the two ops it replaces (see backends.OnnxBackend).
    Fewer, larger kernels serve more texts per second; the build's throughput table says how many."""
    options = FusionOptions("bert")
    options.enable_gelu_approximation = True
    options.enable_skip_layer_norm = False
    options.enable_embed_layer_norm = False
    fused = optimizer.optimize_model(
        str(path),
        model_type="bert",
        num_heads=num_heads,
        hidden_size=hidden_size,
        opt_level=0,
        optimization_options=options,
    )
    fused.save_model_to_file(str(path))


def export_onnx(model: BertForSequenceClassification, out_dir: Path) -> tuple[Path, Path]:
    """Writes model.onnx (fp32) and model.int8.onnx; returns both paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    fp32, int8 = out_dir / "model.onnx", out_dir / "model.int8.onnx"
    model.eval()
    # Plain matmul/softmax attention exports to the simplest graph (and the one the fusions know).
    previous = model.config._attn_implementation
    model.set_attn_implementation("eager")
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
    model.set_attn_implementation(previous)
    fuse(fp32, model.config.num_attention_heads, model.config.hidden_size)
    quantize_dynamic(
        str(fp32),
        str(int8),
        per_channel=True,
        weight_type=QuantType.QInt8,
        # Fused contrib ops carry no inferred types; their outputs are float.
        extra_options={"DefaultTensorType": TensorProto.FLOAT},
    )
    return fp32, int8
