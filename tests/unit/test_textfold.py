"""Traditional Chinese is read as Simplified by the model, the aspect tagger and alert keyword rules."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from services.alerting.evaluation.columns import columns
from services.alerting.evaluation.engine import RuleEngine
from services.alerting.rules import load_rules
from services.sentiment.aspects import AspectTagger, load_taxonomy
from services.sentiment.service import Scorer
from shared.textfold import to_simplified
from tests.alerting_data import scored
from tests.unit.test_alerting_engine import T0, fired


def test_traditional_text_folds_to_simplified_and_other_text_is_left_alone():
    assert to_simplified("車門生銹了，客服態度很差") == "车门生锈了，客服态度很差"
    assert to_simplified("车门生锈了") == "车门生锈了"
    assert to_simplified("Great service, fast delivery!") == "Great service, fast delivery!"
    assert to_simplified("") == ""


def test_folding_in_worker_threads_gives_the_same_answers():
    texts = ["這個產品質量還不錯", "物流太慢了，包裝破損", "hello"] * 20
    with ThreadPoolExecutor(4) as pool:
        assert list(pool.map(to_simplified, texts)) == [to_simplified(t) for t in texts]


def test_the_shipped_rust_aspect_counts_the_traditional_spelling():
    tagger = AspectTagger(load_taxonomy())
    found = {a.name: a for a in tagger.tag("刀具用了一週就生銹了", "negative")}
    assert found["product_quality"].keywords == ["生锈"]


def test_the_shipped_rust_rule_counts_the_traditional_spelling():
    config = load_rules()
    [rule] = [r for r in config.rules if r.id == "rust-mentions"]
    engine = RuleEngine(config.model_copy(update={"rules": [rule]}))
    batch = [scored(T0, text=text) for text in ["車門生銹了"] * 3 + ["刀具生锈"] * 3 + ["很好"]]
    [signal] = fired(engine.process(columns(batch, {})), "rust-mentions")
    assert signal.value == 6


async def test_the_model_reads_traditional_text_as_simplified_and_empty_text_not_at_all():
    seen: list[list[str]] = []

    class Batcher:
        async def score(self, texts, urgent=False):
            seen.append(list(texts))
            return [f"scored {t}" for t in texts]

    scorer = Scorer(model=None, batcher=Batcher(), context=None)  # type: ignore[arg-type]
    out = await scorer.score_texts(["態度很好", "  ", "good"])
    assert seen == [["态度很好", "good"]]
    assert out == ["scored 态度很好", None, "scored good"]  # type: ignore[comparison-overlap]  # the fake's
