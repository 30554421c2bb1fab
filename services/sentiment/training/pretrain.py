"""Masked-LM pretraining of the compact BERT on unlabeled Chinese text and the training reviews.

Sentences are packed into full-length blocks (no padding), masked dynamically each step (15 %: 80 % [MASK],
10 % random, 10 % kept), and training stops at a wall-clock budget so a build has a known cost.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Sequence
from pathlib import Path

import torch
from transformers import BertForMaskedLM, BertTokenizerFast

from services.sentiment.training.modelspec import MAX_LENGTH, compact_config

STATS = "pretrain.json"
"""What pretraining cost and reached (steps, minutes, mean masked-LM loss of its last 100 steps)."""


def pack_blocks(tokenizer: BertTokenizerFast, texts: Sequence[str], block: int = MAX_LENGTH) -> torch.Tensor:
    """[CLS] s1 [SEP] s2 [SEP] ... cut into rows of exactly `block` ids."""
    body = block - 2
    stream: list[int] = []
    for start in range(0, len(texts), 4096):
        encoded = tokenizer(list(texts[start : start + 4096]), add_special_tokens=False)["input_ids"]
        for ids in encoded:
            stream.extend(ids[: body - 1])
            stream.append(tokenizer.sep_token_id)
    rows = len(stream) // body
    data = torch.tensor(stream[: rows * body], dtype=torch.long).view(rows, body)
    cls = torch.full((rows, 1), tokenizer.cls_token_id, dtype=torch.long)
    sep = torch.full((rows, 1), tokenizer.sep_token_id, dtype=torch.long)
    return torch.cat([cls, data, sep], dim=1)


def mask_tokens(
    ids: torch.Tensor, tokenizer: BertTokenizerFast, rate: float = 0.15
) -> tuple[torch.Tensor, torch.Tensor]:
    labels = ids.clone()
    special = (
        (ids == tokenizer.cls_token_id) | (ids == tokenizer.sep_token_id) | (ids == tokenizer.pad_token_id)
    )
    chosen = (torch.rand(ids.shape, device=ids.device) < rate) & ~special
    labels[~chosen] = -100
    inputs = ids.clone()
    roll = torch.rand(ids.shape, device=ids.device)
    inputs[chosen & (roll < 0.8)] = tokenizer.mask_token_id
    random_ids = torch.randint(5, len(tokenizer), ids.shape, device=ids.device)
    swap = chosen & (roll >= 0.8) & (roll < 0.9)
    inputs[swap] = random_ids[swap]
    return inputs, labels


def masked_loss(model: BertForMaskedLM, inputs: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """MLM loss with the vocabulary head applied only at masked positions (~15 %), a third of the cost."""
    hidden = model.bert(input_ids=inputs).last_hidden_state
    chosen = labels != -100
    logits = model.cls(hidden[chosen])
    return torch.nn.functional.cross_entropy(logits, labels[chosen])


def pretrain(
    tokenizer: BertTokenizerFast,
    texts: Sequence[str],
    out_dir: Path,
    *,
    minutes: float,
    batch_size: int = 64,
    lr: float = 5e-4,
    seed: int = 0,
    device: str = "cpu",
    resume: Path | None = None,
) -> BertForMaskedLM:
    """`device`: where to train ("cuda": bf16 autocast; on an accelerator, raise `batch_size` and `lr`
    together). `resume`: a masked-LM checkpoint to continue from (same tokenizer) instead of random
    weights, so that pretraining budgets add up across runs."""
    torch.manual_seed(seed)
    blocks = pack_blocks(tokenizer, texts).to(device)
    if resume is not None:
        model = BertForMaskedLM.from_pretrained(str(resume))
    else:
        model = BertForMaskedLM(compact_config(len(tokenizer)))
    model.to(device)
    autocast = torch.autocast("cuda", dtype=torch.bfloat16, enabled=device.startswith("cuda"))
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    deadline = time.monotonic() + minutes * 60
    # The schedule assumes the measured step rate after a few steps; warm-up is 5 % of the estimate.
    estimated_steps, warmup, step = 10_000, 200, 0
    recent: list[float] = []
    started = time.monotonic()
    model.train()
    print(f"pretrain: {len(blocks)} blocks of {blocks.shape[1]}, budget {minutes} min", flush=True)
    while time.monotonic() < deadline:
        for batch in torch.randperm(len(blocks), device=device).split(batch_size):
            if time.monotonic() >= deadline:
                break
            inputs, labels = mask_tokens(blocks[batch], tokenizer)
            with autocast:
                loss = masked_loss(model, inputs, labels)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            progress = min(1.0, step / estimated_steps)
            scale = min(1.0, (step + 1) / warmup) * 0.5 * (1 + math.cos(math.pi * progress))
            for group in optimizer.param_groups:
                group["lr"] = lr * max(scale, 0.05)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            step += 1
            recent = [*recent[-99:], loss.item()]
            if step == 20:
                rate = step / (time.monotonic() - started)
                estimated_steps = int(rate * minutes * 60)
                warmup = max(50, estimated_steps // 20)
            if step % 100 == 0:
                print(f"pretrain step {step}/{estimated_steps} loss {loss.item():.3f}", flush=True)
            if step % 1000 == 0:
                model.save_pretrained(str(out_dir))
    model.to("cpu")
    model.save_pretrained(str(out_dir))
    previous = json.loads((resume / STATS).read_text()) if resume and (resume / STATS).exists() else {}
    stats = {
        "runs": previous.get("runs", 1) + 1 if resume else 1,
        "steps": step + previous.get("steps", 0),
        "minutes": minutes + previous.get("minutes", 0),
        "batch_blocks": batch_size,
        "block_tokens": int(blocks.shape[1]),
        "device": device,
        "final_loss": sum(recent) / max(1, len(recent)),
    }
    (out_dir / STATS).write_text(json.dumps(stats, indent=2) + "\n")
    tokenizer.save_pretrained(str(out_dir))  # a self-contained checkpoint: --resume needs its vocabulary
    return model
