"""A small script-based language guess (zh / en / other) for records that do not say."""

from __future__ import annotations

import re

from shared.contracts.feedback import Language

_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_KANA_HANGUL = re.compile(r"[\u3040-\u30ff\uac00-\ud7af]")
_LATIN = re.compile(r"[A-Za-z]")
_OTHER_LETTERS = re.compile(r"[\u0400-\u04ff\u0590-\u06ff\u0900-\u0dff\u0e00-\u0e7f]")


def detect_language(text: str) -> Language:
    """zh when Han characters dominate, en for Latin-script text, other for anything else."""
    if text.isascii():  # the common English case: no Han, kana, hangul or other scripts to count
        return "en" if len(_LATIN.findall(text)) >= 2 else "other"
    if _KANA_HANGUL.search(text):
        return "other"
    han = len(_HAN.findall(text))
    latin = len(_LATIN.findall(text))
    if _OTHER_LETTERS.search(text) and len(_OTHER_LETTERS.findall(text)) > max(han, latin):
        return "other"
    # A Chinese character carries about as much as a short English word.
    if han and han * 4 >= latin:
        return "zh"
    if latin >= 2:
        return "en"
    return "other"
