"""Aspect tagging with the shipped zh + en taxonomy."""

from pathlib import Path

import pytest

from services.sentiment.aspects import AspectTagger, load_taxonomy
from shared.yamlconfig import ConfigError


@pytest.fixture(scope="module")
def tagger() -> AspectTagger:
    return AspectTagger(load_taxonomy())


def by_name(aspects):
    return {a.name: a for a in aspects}


def test_mixed_english_sentence_gets_one_negative_and_one_positive_aspect(tagger):
    found = by_name(tagger.tag("The packaging was damaged but the agent was very professional", "neutral"))
    assert found["packaging"].label == "negative"
    assert found["staff_service"].label == "positive"


def test_chinese_clauses_are_labelled_separately(tagger):
    found = by_name(tagger.tag("快递很快，但是包装破损了，客服态度不好", "negative"))
    assert found["delivery"].label == "positive"
    assert found["packaging"].label == "negative"
    assert found["staff_service"].label == "negative"  # 不好: negated positive


def test_rust_is_a_product_quality_mention_in_both_languages(tagger):
    assert "product_quality" in by_name(tagger.tag("刀具用了一周就生锈了", "negative"))
    assert by_name(tagger.tag("The blade is rusty after a week", "negative"))["product_quality"].keywords == [
        "rusty"
    ]


def test_english_keywords_match_whole_words_only(tagger):
    assert "app_website" not in by_name(tagger.tag("I was happy with the apple pie", "positive"))


def test_aspect_without_cues_takes_the_overall_label(tagger):
    assert by_name(tagger.tag("关于物流", "negative"))["delivery"].label == "negative"


def test_bad_taxonomy_file_is_refused_with_line_and_field(tmp_path: Path):
    path = tmp_path / "aspects.yaml"
    path.write_text(
        "aspects:\n  delivery:\n    fr: [livraison]\ncues: {positive: {}, negative: {}, negators: {}}\n"
    )
    with pytest.raises(ConfigError, match=r"aspects.yaml:3: aspects.delivery.fr"):
        load_taxonomy(path)
