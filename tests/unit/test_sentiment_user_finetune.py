"""Fine-tuning on a user's own labelled CSV (`finetune --init-from ... --data ...`): a servable model comes
out, and a bad row is refused naming the file, the row and the field."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from services.sentiment.backends import load_model
from services.sentiment.training.cli import main
from services.sentiment.training.e5tokenizer import build_tokenizer, save
from services.sentiment.training.userdata import load_labelled
from tests.unit.test_sentiment_e5_prune import tiny_model
from tests.unit.test_sentiment_e5_tokenizer import tiny_vocabulary

ROWS = [("hello world", "5"), ("很好", "4"), ("hello", "1"), ("world", "2")] * 5


def tiny_checkpoint(directory: Path) -> Path:
    tiny_model().save_pretrained(str(directory))
    save(build_tokenizer(tiny_vocabulary()), directory, 32)
    return directory


def write_csv(path: Path, rows: list[tuple[str, str]], header: str = "text,stars") -> Path:
    path.write_text(header + "\n" + "".join(f"{text},{stars}\n" for text, stars in rows), encoding="utf-8")
    return path


def test_finetuning_on_a_users_csv_gives_a_model_the_service_serves(tmp_path, monkeypatch, capsys):
    init = tiny_checkpoint(tmp_path / "init")
    data = write_csv(tmp_path / "mine.csv", ROWS)
    out = tmp_path / "mine"
    argv = ["training", "finetune", "--init-from", str(init), "--data", str(data), "--out", str(out)]
    monkeypatch.setattr(sys, "argv", [*argv, "--epochs", "1", "--minutes", "2"])
    main()
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert report["held_out_n"] == 2
    assert len(report["held_out_top_star_accuracy"]) == 1
    loaded = load_model(str(out), "onnx", max_length=32)
    assert loaded.labels.schema == "stars5"
    probabilities = loaded.backend.probabilities(loaded.backend.encode(["hello world", "很好"]))
    assert probabilities.shape == (2, 5)
    assert probabilities.sum(1) == pytest.approx([1.0, 1.0], abs=1e-4)


def test_a_labels_only_csv_is_read_and_a_bad_row_is_named(tmp_path):
    labels = write_csv(tmp_path / "labels.csv", [("good", "positive"), ("bad", "0")], "text,label")
    assert [t for t, _ in load_labelled(labels)] == ["good", "bad"]
    bad = write_csv(tmp_path / "bad.csv", [("fine", "4"), ("odd", "6")])
    with pytest.raises(ValueError, match=r"bad\.csv: row 2: stars must be 1-5"):
        load_labelled(bad)
