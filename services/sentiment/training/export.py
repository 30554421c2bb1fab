"""Export to ONNX (fp32), graph fusions, and dynamic int8 quantization (per-channel weights) for ONNX
Runtime serving.

The int8 file keeps large embedding tables in fp16 rather than int8: dynamic quantization gives a lookup
table one scale for all its rows, and on a large multilingual vocabulary that alone took label agreement
with fp32 below its floor; fp16 tables cost twice the bytes of int8 and keep the file far below fp32."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import torch
from onnx import TensorProto, helper, numpy_helper
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


EMBEDDING_ROWS = 1000
"""A Gather's constant table of at least this many rows is an embedding table worth halving."""


def halve_embeddings(source: Path, target: Path) -> int:
    """Writes `source` to `target` with each large constant lookup table stored as fp16 and cast back
    to fp32 after the lookup; returns how many lookups were changed."""
    model = onnx.load(str(source))
    graph = model.graph
    tables = {t.name: t for t in graph.initializer}
    halved: set[str] = set()
    nodes, changed = [], 0
    for node in graph.node:
        nodes.append(node)
        name = node.input[0] if node.op_type == "Gather" and node.input else ""
        if name not in tables:
            continue
        if name not in halved:
            table = numpy_helper.to_array(tables[name])
            if table.dtype != np.float32 or table.ndim != 2 or table.shape[0] < EMBEDDING_ROWS:
                continue
            tables[name].CopyFrom(numpy_helper.from_array(table.astype(np.float16), name))
            halved.add(name)
        looked_up = node.output[0]
        node.output[0] = f"{looked_up}_fp16"
        nodes.append(
            helper.make_node(
                "Cast", [node.output[0]], [looked_up], to=TensorProto.FLOAT, name=f"{node.name}_fp32"
            )
        )
        changed += 1
    del graph.node[:]
    graph.node.extend(nodes)
    # Type annotations of the tables (as inputs or value_info) and of renamed outputs go stale: inference
    # recomputes them.
    for entries in (graph.input, graph.value_info):
        stale = [e for e in entries if e.name in halved or e.name.endswith("_fp16")]
        for entry in stale:
            entries.remove(entry)
    lookups = {n.output[0][: -len("_fp16")] for n in nodes if n.output and n.output[0].endswith("_fp16")}
    for entry in [e for e in graph.value_info if e.name in lookups]:
        graph.value_info.remove(entry)
    onnx.save(model, str(target))
    return changed


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
    halved = out_dir / "model.fp16-embeddings.onnx"
    halve_embeddings(fp32, halved)
    try:
        quantize_dynamic(
            str(halved),
            str(int8),
            per_channel=True,
            weight_type=QuantType.QInt8,
            op_types_to_quantize=["MatMul", "Attention", "Gemm"],  # not Gather: see the module's note
            # Fused contrib ops carry no inferred types; their outputs are float.
            extra_options={"DefaultTensorType": TensorProto.FLOAT},
        )
    finally:
        halved.unlink(missing_ok=True)
    return fp32, int8
