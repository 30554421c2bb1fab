"""Small randomly initialised BertForSequenceClassification checkpoints, saved like any hub checkpoint."""

from __future__ import annotations

from pathlib import Path

VOCAB = [
    "[PAD]",
    "[UNK]",
    "[CLS]",
    "[SEP]",
    "[MASK]",
    *"好差包装破损快递很慢满意失望，。",
    "the",
    "box",
    "was",
    "damaged",
    "great",
    "service",
    "slow",
    "agent",
    "professional",
    "but",
    ".",
]
STARS = {0: "1 star", 1: "2 stars", 2: "3 stars", 3: "4 stars", 4: "5 stars"}
POLARITY3 = {0: "negative", 1: "neutral", 2: "positive"}
BINARY = {0: "NEGATIVE", 1: "POSITIVE"}


def tiny_checkpoint(directory: Path, id2label: dict[int, str], *, onnx: bool = False, seed: int = 0) -> Path:
    import torch
    from transformers import BertConfig, BertForSequenceClassification, BertTokenizerFast  # type: ignore[attr-defined]

    torch.manual_seed(seed)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "vocab.txt").write_text("\n".join(VOCAB) + "\n", encoding="utf-8")
    tokenizer = BertTokenizerFast(vocab=str(directory / "vocab.txt"), do_lower_case=True)
    tokenizer.model_max_length = 16
    tokenizer.save_pretrained(str(directory))
    config = BertConfig(
        vocab_size=len(VOCAB),
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=37,
        max_position_embeddings=16,
        id2label=id2label,
        label2id={v: k for k, v in id2label.items()},
    )
    model = BertForSequenceClassification(config).eval()
    model.save_pretrained(str(directory))
    if onnx:
        from services.sentiment.training.export import export_onnx

        export_onnx(model, directory)
    return directory
