"""Distilling the fine-tuned 12-layer e5 into a shallower student that CPU serving can afford.

The student starts from evenly spaced layers of the teacher (its embeddings, pooler and classifier
included) and learns the teacher's 5-star distributions, mixed with the gold targets where there are
any, over the teacher's training texts plus unlabelled Chinese sentences. The teacher's labels are cached
by text hash, so a second student (another depth, another mixture) does not pay for them again.

With several teachers (fine-tuned from the same checkpoint with different seeds), the student learns the
mean of their distributions: an ensemble's errors are less correlated than one model's, and its soft
labels carry more of what the student can learn than any one teacher's.
"""

from __future__ import annotations

import hashlib
import json
import random
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from services.sentiment.training.authored import authored_split
from services.sentiment.training.corpus import polarity_split, unlabeled_chinese
from services.sentiment.training.e5train import dev_score_for, held_out_report, training_set
from services.sentiment.training.vader import vader_split

Target = tuple[float, ...]


def kept_layers(teacher_layers: int, student_layers: int) -> list[int]:
    """Evenly spaced teacher layers, the top one always included (it is what the classifier reads)."""
    if not 1 <= student_layers <= teacher_layers:
        raise ValueError(f"student_layers must be 1..{teacher_layers}, got {student_layers}")
    return [(i + 1) * teacher_layers // student_layers - 1 for i in range(student_layers)]


def student_from(source: Path, out: Path, layers: int) -> list[int]:
    """Saves to `out` a 5-star classifier with only `kept_layers` of `source`'s encoder; returns their
    indices. `source` is the fine-tuned teacher (its pooler and classifier come along) or a plain
    encoder such as e5-prune's (a new classifier head is initialised)."""
    import torch
    from transformers import AutoTokenizer, BertForSequenceClassification

    from services.sentiment.training.modelspec import STAR_LABELS

    model = BertForSequenceClassification.from_pretrained(
        str(source), num_labels=5, id2label=STAR_LABELS, label2id={v: k for k, v in STAR_LABELS.items()}
    )
    keep = kept_layers(model.config.num_hidden_layers, layers)
    model.bert.encoder.layer = torch.nn.ModuleList([model.bert.encoder.layer[i] for i in keep])
    model.config.num_hidden_layers = layers
    model.save_pretrained(str(out))
    AutoTokenizer.from_pretrained(str(source)).save_pretrained(str(out))
    return keep


def text_key(text: str) -> bytes:
    return hashlib.sha1(text.encode("utf-8"), usedforsecurity=False).digest()


def load_labels(path: Path) -> dict[bytes, np.ndarray]:
    if not path.exists():
        return {}
    with np.load(path) as saved:
        keys = saved["keys"]
        # Keys are (n, 20) bytes; a fixed-width "S20" array (as first written) drops a digest's trailing
        # NUL bytes, which padding restores exactly.
        digests = (
            [bytes(k).ljust(20, b"\0") for k in keys] if keys.dtype.kind == "S" else [bytes(k) for k in keys]
        )
        return {k: p.astype(np.float32) for k, p in zip(digests, saved["probs"], strict=True)}


def save_labels(path: Path, labels: dict[bytes, np.ndarray]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    keys = np.frombuffer(b"".join(labels), dtype=np.uint8).reshape(len(labels), 20)
    probs = np.stack(list(labels.values())).astype(np.float16)
    np.savez_compressed(path, keys=keys, probs=probs)


def teacher_labels(teacher: Path, texts: Sequence[str], cache: Path) -> np.ndarray:
    """The teacher's 5-star probabilities for `texts`, computing only those not yet in `cache`. Without
    a teacher directory, a text missing from the cache gets a row of NaN (`transfer_set` then uses its
    gold target alone)."""
    labels = load_labels(cache)
    missing = list(dict.fromkeys(t for t in texts if text_key(t) not in labels))
    if missing and teacher.exists():
        from transformers import AutoTokenizer, BertForSequenceClassification

        from services.sentiment.training.finetune import predictor

        model = BertForSequenceClassification.from_pretrained(str(teacher)).eval()
        predict = predictor(model, AutoTokenizer.from_pretrained(str(teacher)))
        print(f"teacher labels: {len(missing)} new texts", flush=True)
        for start in range(0, len(missing), 2048):
            part = missing[start : start + 2048]
            # Rounded as stored, so that a label reads the same computed or cached.
            rounded = predict(part).astype(np.float16).astype(np.float32)
            labels.update(zip(map(text_key, part), rounded, strict=True))
            save_labels(cache, labels)
    elif missing:
        print(f"teacher labels: {len(missing)} texts not in {cache} and no teacher at {teacher}", flush=True)
    unknown = np.full(5, np.nan, dtype=np.float32)
    return np.stack([labels.get(text_key(t), unknown) for t in texts])


def ensemble_labels(teacher: Path, texts: Sequence[str], caches: Sequence[Path]) -> np.ndarray:
    """The mean of several teachers' distributions for `texts`, one cache per teacher: the first cache is
    completed from `teacher` (as `teacher_labels` does), the others are read as they are. A text only
    some caches hold takes the mean of those; one that none holds is a row of NaN."""
    if not caches:
        raise ValueError("at least one teacher's labels are needed")
    first = teacher_labels(teacher, texts, caches[0])
    if len(caches) == 1:
        return first
    rows = np.stack([first, *(_cached(texts, cache) for cache in caches[1:])])
    known = ~np.isnan(rows[..., 0])
    counts = known.sum(0)
    total = np.where(known[..., None], rows, 0).sum(0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = total / counts[:, None]
    return np.where(counts[:, None] > 0, mean, np.nan).astype(np.float32)


def _cached(texts: Sequence[str], cache: Path) -> np.ndarray:
    if not cache.exists():
        raise FileNotFoundError(f"teacher labels {cache} do not exist")
    labels, unknown = load_labels(cache), np.full(5, np.nan, dtype=np.float32)
    return np.stack([labels.get(text_key(t), unknown) for t in texts])


def transfer_set(
    train: Sequence[tuple[str, Target]],
    unlabelled: Sequence[str],
    teacher: np.ndarray,
    teacher_weight: float,
) -> list[tuple[str, Target]]:
    """Labelled texts get `teacher_weight` of the teacher's distribution and the rest of their gold
    target (all of it where the teacher's row is NaN: a text the cached teacher never saw); unlabelled
    texts (after the labelled ones in `teacher`) get the teacher's alone."""
    if len(teacher) != len(train) + len(unlabelled):
        raise ValueError("one teacher distribution per labelled and unlabelled text")
    if np.isnan(teacher[len(train) :]).any():
        raise ValueError("an unlabelled text has no teacher distribution")
    out = []
    for (text, gold), t in zip(train, teacher, strict=False):
        mixed = (
            np.array(gold)
            if np.isnan(t).any()
            else teacher_weight * t + (1 - teacher_weight) * np.array(gold)
        )
        out.append((text, tuple(float(x) for x in mixed)))
    out += [
        (text, tuple(float(x) for x in t)) for text, t in zip(unlabelled, teacher[len(train) :], strict=True)
    ]
    return out


def transfer_texts(
    authored_share: int, unlabelled: int, seed: int = 0, limit: int | None = None
) -> tuple[list[tuple[str, Target]], list[str]]:
    """The teacher's training set (as e5-train draws it) and a sample of unlabelled Chinese sentences;
    `limit` keeps that many labelled texts."""
    polarity, vader = polarity_split(), vader_split()
    authored_train, _ = authored_split()
    train = training_set(polarity, vader.train, authored_train, authored_share, seed)
    if limit is not None:
        train = random.Random(seed).sample(train, min(limit, len(train)))
    return train, random.Random(seed).sample(unlabeled_chinese(), unlabelled)


def distil_e5(
    teacher: Path,
    out: Path,
    *,
    layers: int,
    epochs: int,
    minutes: float,
    authored_share: int,
    unlabelled: int,
    teacher_weight: float,
    labels_caches: Sequence[Path],
    lr: float,
    init_from: Path | None = None,
    batch_size: int,
    limit: int | None = None,
    seed: int = 0,
) -> dict[str, Any]:
    """Trains a `layers`-deep student of `teacher` (e5-train's directory) into `out` with a report.json
    of the same held-out figures as the teacher's. The student's layers come from `init_from` (default:
    the teacher itself); with every label in `labels_caches` (one per teacher, see `ensemble_labels`),
    the teacher directory need not exist. `limit` keeps that many labelled texts (smoke run)."""
    from services.sentiment.training.finetune import finetune, predictor

    polarity, vader = polarity_split(), vader_split()
    _, authored_test = authored_split()
    train, extra = transfer_texts(authored_share, unlabelled, seed, limit)
    probs = ensemble_labels(teacher, [t for t, _ in train] + extra, labels_caches)
    transfer = transfer_set(train, extra, probs, teacher_weight)
    init = out.parent / f"{out.name}-init"
    source = init_from or teacher
    keep = student_from(source, init, layers)
    print(f"distilling into layers {keep} of {source} on {len(transfer)} texts", flush=True)
    began = time.monotonic()
    model, tokenizer, dev_scores = finetune(
        init,
        init,
        transfer,
        dev_score_for(polarity, vader.dev),
        epochs=epochs,
        minutes=minutes,
        batch_size=batch_size,
        lr=lr,
        seed=seed,
    )
    report: dict[str, Any] = {
        "teacher": str(teacher),
        "teacher_labels": [str(c) for c in labels_caches],
        "student_init": str(source),
        "teacher_layers_kept": keep,
        "transfer_texts": len(transfer),
        "unlabelled_texts": len(extra),
        "teacher_weight": teacher_weight,
        "epochs": epochs,
        "lr": lr,
        "batch_size": batch_size,
        "dev_scores": dev_scores,
        "train_seconds": round(time.monotonic() - began),
        **held_out_report(predictor(model, tokenizer), polarity, vader.test, authored_test),
    }
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(out))
    tokenizer.save_pretrained(str(out))
    (out / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    return report
