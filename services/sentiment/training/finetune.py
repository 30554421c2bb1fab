"""Fine-tuning a BERT checkpoint into the 5-star classifier, with length-bucketed batches and soft targets."""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
from transformers import AutoTokenizer, BertForSequenceClassification, PreTrainedTokenizerBase

from services.sentiment.compact import load_classifier
from services.sentiment.training.modelspec import MAX_LENGTH, STAR_LABELS

Target = tuple[float, ...]


def buckets(lengths: Sequence[int], batch_size: int, rng: random.Random) -> list[list[int]]:
    """Batches of similar length (little padding) in random order."""
    order = list(range(len(lengths)))
    rng.shuffle(order)
    chunk = batch_size * 50
    batches: list[list[int]] = []
    for start in range(0, len(order), chunk):
        part = sorted(order[start : start + chunk], key=lambda i: lengths[i])
        batches.extend(part[i : i + batch_size] for i in range(0, len(part), batch_size))
    rng.shuffle(batches)
    return batches


def predictor(
    model: BertForSequenceClassification, tokenizer: PreTrainedTokenizerBase, batch_size: int = 64
) -> Callable[[Sequence[str]], np.ndarray]:
    length = min(MAX_LENGTH, model.config.max_position_embeddings)

    def predict(texts: Sequence[str]) -> np.ndarray:
        model.eval()
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out = np.zeros((len(texts), 5), dtype=np.float32)
        with torch.inference_mode():
            for start in range(0, len(order), batch_size):
                idx = order[start : start + batch_size]
                enc = tokenizer(
                    [texts[i] for i in idx],
                    padding=True,
                    truncation=True,
                    max_length=length,
                    return_tensors="pt",
                )
                enc = enc.to(model.device)
                out[idx] = torch.softmax(model(**enc).logits.float(), -1).cpu().numpy()
        return out

    return predict


def finetune(
    init: str | Path,
    tokenizer_dir: str | Path,
    train: Sequence[tuple[str, Target]],
    dev_score: Callable[[Callable[[Sequence[str]], np.ndarray]], float],
    *,
    epochs: int = 3,
    minutes: float = 30,
    batch_size: int = 32,
    lr: float = 1.5e-4,
    seed: int = 0,
    device: str = "cpu",
) -> tuple[BertForSequenceClassification, PreTrainedTokenizerBase, list[float]]:
    """Trains from `init` (a masked-LM or any BERT checkpoint) on `device`; returns the epoch with the
    best dev score, on the CPU."""
    torch.manual_seed(seed)
    rng = random.Random(seed)
    tokenizer = AutoTokenizer.from_pretrained(str(tokenizer_dir))
    model = load_classifier(
        init,
        num_labels=5,
        id2label=STAR_LABELS,
        label2id={v: k for k, v in STAR_LABELS.items()},
        ignore_mismatched_sizes=True,
    ).to(device)
    length = min(MAX_LENGTH, model.config.max_position_embeddings)
    texts = [t for t, _ in train]
    targets = torch.tensor([y for _, y in train], dtype=torch.float32, device=device)
    lengths = [len(t) for t in texts]
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    total = epochs * math.ceil(len(texts) / batch_size)
    warmup, step = max(1, total // 16), 0
    deadline = time.monotonic() + minutes * 60
    scores: list[float] = []
    best: tuple[float, dict[str, torch.Tensor]] | None = None
    for epoch in range(epochs):
        model.train()
        for batch in buckets(lengths, batch_size, rng):
            if time.monotonic() > deadline:
                break
            enc = tokenizer(
                [texts[i] for i in batch],
                padding=True,
                truncation=True,
                max_length=length,
                return_tensors="pt",
            ).to(device)
            log_probs = torch.log_softmax(model(**enc).logits, -1)
            loss = -(targets[batch] * log_probs).sum(-1).mean()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            scale = min((step + 1) / warmup, max(0.0, (total - step) / max(1, total - warmup)))
            for group in optimizer.param_groups:
                group["lr"] = lr * scale
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            step += 1
            if step % 100 == 0:
                print(f"finetune epoch {epoch} step {step}/{total} loss {loss.item():.3f}", flush=True)
        score = dev_score(predictor(model, tokenizer))
        scores.append(score)
        print(f"finetune epoch {epoch} dev {score:.4f}", flush=True)
        if best is None or score > best[0]:
            best = (score, {k: v.detach().clone() for k, v in model.state_dict().items()})
        if time.monotonic() > deadline:
            break
    assert best is not None
    model.load_state_dict(best[1])
    return model.to("cpu"), tokenizer, scores
