"""The VADER rated-sentence loader, on a synthetic sdist laid out as vaderSentiment 3.3.2's."""

from __future__ import annotations

import io
import tarfile
from collections import Counter
from pathlib import Path

import pytest

from services.sentiment.training.vader import DATA_MEMBER, parse_ground_truth, part_of, read_rated


def _tar(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def fake_sdist(path: Path) -> Path:
    folder = "hutto_ICWSM_2014/"
    data = _tar(
        {
            folder + "tweets_GroundTruth.txt": b"1\t2.5\tLove it &amp; more\r\n2\t-1.0\tmeh\r\n",
            folder
            + "amazonReviewSnippets_GroundTruth.txt": b"1_1\t-3.0\tbroke in a day\r\n1_2\t-1.0\tmeh\r\n",
            folder
            + "movieReviewSnippets_GroundTruth.txt": "1\t0.5\tan ''okay'' film \u2014 fine\r\n\r\n".encode(),
            folder + "nytEditorialSnippets_GroundTruth.txt": b"1_1\t0.2\tan editorial\r\n",
        }
    )
    path.write_bytes(_tar({"vaderSentiment-3.3.2/setup.py": b"", DATA_MEMBER: data}))
    return path


def test_reads_tweets_amazon_and_movies_and_leaves_the_editorials_out(tmp_path: Path):
    rows = {row.text: row for row in read_rated(fake_sdist(tmp_path / "sdist.tar.gz"))}
    assert set(rows) == {"Love it & more", "meh", "broke in a day", "an ''okay'' film \u2014 fine"}
    assert rows["Love it & more"].rating == 2.5
    assert rows["Love it & more"].source == "tweets"
    assert rows["broke in a day"].source == "amazon"


def test_a_repeated_text_is_kept_once_with_the_mean_of_its_ratings(tmp_path: Path):
    rows = [row for row in read_rated(fake_sdist(tmp_path / "sdist.tar.gz")) if row.text == "meh"]
    assert len(rows) == 1
    assert rows[0].rating == -1.0
    assert rows[0].source == "tweets"


def test_a_malformed_line_is_refused_with_its_number():
    with pytest.raises(ValueError, match="line 2"):
        parse_ground_truth("1\t0.5\tfine\nno tabs here\n", "tweets")


def test_parts_are_a_stable_80_10_10_split_by_text():
    texts = [f"review number {i}" for i in range(5000)]
    shares = Counter(part_of(text) for text in texts)
    assert abs(shares["train"] / 5000 - 0.8) < 0.03
    assert abs(shares["dev"] / 5000 - 0.1) < 0.02
    assert abs(shares["test"] / 5000 - 0.1) < 0.02
    # Pinned: a text never moves between parts from one build to the next.
    assert part_of("Yay. Another good phone interview.") == "train"
    assert part_of("broke in a day") == "dev"
