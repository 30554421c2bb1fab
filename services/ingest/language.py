"""A small script-based language guess (zh / en / other) for records that do not say."""

from __future__ import annotations

import re

from shared.contracts.feedback import Language

_SCRIPTS = {
    "h": ((0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xF900, 0xFAFF)),  # Han
    "k": ((0x3040, 0x30FF), (0xAC00, 0xD7AF)),  # kana, hangul
    "o": ((0x0400, 0x04FF), (0x0590, 0x06FF), (0x0900, 0x0DFF), (0x0E00, 0x0E7F)),  # other letters
}
_CLASSES: dict[int, str] = {
    point: name for name, ranges in _SCRIPTS.items() for low, high in ranges for point in range(low, high + 1)
}
_CLASSES.update(dict.fromkeys(range(ord("A"), ord("Z") + 1), "l"))
_CLASSES.update(dict.fromkeys(range(ord("a"), ord("z") + 1), "l"))
"""Each character of a counted script to its class letter. Every ASCII letter maps to "l", so after
translation an "h", "k" or "o" can only stand for its script (one C pass instead of a regex per script)."""
_TWO_LATIN = re.compile(r"[A-Za-z][^A-Za-z]*[A-Za-z]")


def detect_language(text: str) -> Language:
    """zh when Han characters dominate, en for Latin-script text, other for anything else."""
    if text.isascii():  # the common English case: no Han, kana, hangul or other scripts to count
        return "en" if _TWO_LATIN.search(text) else "other"
    classes = text.translate(_CLASSES)
    if "k" in classes:
        return "other"
    han, latin, other = classes.count("h"), classes.count("l"), classes.count("o")
    if other > max(han, latin):
        return "other"
    # A Chinese character carries about as much as a short English word.
    if han and han * 4 >= latin:
        return "zh"
    if latin >= 2:
        return "en"
    return "other"
