"""Rule evaluation with event time: per-feedback, windowed rate, keyword count, baseline, benchmark."""

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.alerting.evaluation.columns import columns
from services.alerting.evaluation.engine import Cell, RuleEngine
from services.alerting.rules import AlertingConfig, load_rules
from shared.yamlconfig import ConfigError, parse_yaml
from tests.alerting_data import scored

T0 = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
POLICY = {
    "default": {"steps": [{"level": "L1", "timeout": "2h", "targets": [{"kind": "team", "name": "t"}]}]}
}


def engine(*rules: dict[str, Any]) -> RuleEngine:
    return RuleEngine(AlertingConfig.model_validate({"rules": list(rules), "policies": POLICY}))


def share_rule(min_samples: int) -> dict[str, Any]:
    """Negative share above 30 % over 1 h per business line."""
    return {
        "id": "share",
        "kind": "windowed_rate",
        "match": {"labels": ["negative"]},
        "window": "1h",
        "threshold": 0.3,
        "min_samples": min_samples,
        "group_by": ["business_line"],
    }


def fired(outcome, rule_id=None):
    return [s for s in outcome.signals if s.firing and (rule_id is None or s.rule.id == rule_id)]


def test_shipped_rules_file_is_valid_and_has_every_kind():
    config = load_rules()
    assert {r.kind for r in config.rules} == {
        "per_feedback",
        "windowed_rate",
        "keyword_count",
        "baseline_spike",
        "score_benchmark",
        "score_trend",
        "refund_rate",
        "order_drop",
    }


def test_one_star_feedback_fires_per_feedback_and_carries_the_member_tier():
    e = engine(
        {"id": "one-star", "kind": "per_feedback", "match": {"stars_max": 1}, "group_by": ["feedback_id"]}
    )
    batch = [scored(T0, "negative", customer_id="gold-1"), scored(T0, "positive"), scored(T0, "negative")]
    signals = fired(e.process(columns(batch, {"gold-1": "gold"})))
    assert len(signals) == 2
    assert sorted(s.max_tier for s in signals) == [-1, 2]


def test_negative_share_needs_both_the_rate_and_the_minimum_samples():
    e = engine(share_rule(min_samples=20))
    few = [scored(T0 + timedelta(minutes=i), "negative") for i in range(10)]
    assert not fired(e.process(columns(few, {})))
    more = [scored(T0 + timedelta(minutes=10 + i), "positive") for i in range(15)]
    (signal,) = e.process(columns(more, {})).signals
    assert signal.firing
    assert signal.value == pytest.approx(10 / 25)
    assert dict(signal.group_key) == {"business_line": "retail"}


def test_window_slides_with_event_time():
    e = engine(
        {
            "id": "share",
            "kind": "windowed_rate",
            "match": {"labels": ["negative"]},
            "window": "1h",
            "threshold": 0.3,
            "min_samples": 5,
            "auto_resolve_after": "1h",  # such rules also report when their condition is clear
        }
    )
    assert fired(e.process(columns([scored(T0, "negative") for _ in range(5)], {})))
    later = [scored(T0 + timedelta(hours=2), "positive") for _ in range(5)]
    (signal,) = e.process(columns(later, {})).signals
    assert not signal.firing
    assert signal.value == 0


def test_out_of_order_events_within_lateness_count_and_too_late_ones_do_not():
    e = engine(
        {
            "id": "rust",
            "kind": "keyword_count",
            "match": {"keywords": ["生锈", "rust"]},
            "window": "24h",
            "threshold": 2,
        }
    )
    e.process(
        columns([scored(T0, text="刀生锈了"), scored(T0 - timedelta(hours=3), text="Rust everywhere")], {})
    )
    outcome = e.process(
        columns(
            [scored(T0 - timedelta(hours=1), text="又生锈"), scored(T0 - timedelta(days=3), text="rust")], {}
        )
    )
    assert outcome.late == 1
    assert fired(outcome)[0].value == 3


def test_keyword_count_groups_by_aspect_counting_each_aspect():
    e = engine(
        {
            "id": "q",
            "kind": "keyword_count",
            "match": {"aspects": ["packaging", "delivery"]},
            "window": "1h",
            "threshold": 0,
            "group_by": ["aspect"],
        }
    )
    batch = [scored(T0, aspects=["packaging", "delivery"]), scored(T0, aspects=["packaging"])]
    values = {dict(s.group_key)["aspect"]: s.value for s in e.process(columns(batch, {})).signals}
    assert values == {"packaging": 2, "delivery": 1}


def test_baseline_spike_compares_with_the_same_hour_of_the_previous_days():
    e = engine(
        {
            "id": "spike",
            "kind": "baseline_spike",
            "window": "1h",
            "factor": 1.2,
            "baseline_days": 7,
            "min_count": 5,
        }
    )
    for day in range(7, 0, -1):
        e.process(columns([scored(T0 - timedelta(days=day)) for _ in range(10)], {}))
    assert not fired(e.process(columns([scored(T0) for _ in range(12)], {})))  # 12 = 1.2 x 10: not above
    assert fired(e.process(columns([scored(T0 + timedelta(minutes=5))], {})))  # 13 > 12


def test_nps_below_benchmark_three_complete_days_running():
    e = engine(
        {
            "id": "nps",
            "kind": "score_benchmark",
            "metric": "nps",
            "benchmark": 32,
            "days": 3,
            "min_samples": 4,
        }
    )

    def day(offset, promoters, detractors):
        at = T0 - timedelta(days=offset)
        return [scored(at, nps=10) for _ in range(promoters)] + [scored(at, nps=3) for _ in range(detractors)]

    e.process(columns(day(3, 2, 2) + day(2, 2, 2), {}))
    assert not fired(e.process(columns(day(1, 5, 0) + day(0, 1, 1), {})))  # yesterday NPS 100
    e2 = engine(
        {
            "id": "nps",
            "kind": "score_benchmark",
            "metric": "nps",
            "benchmark": 32,
            "days": 3,
            "min_samples": 4,
        }
    )
    assert fired(e2.process(columns(day(3, 2, 2) + day(2, 2, 2) + day(1, 2, 3) + day(0, 1, 0), {})))


@pytest.mark.parametrize("group_by", [["business_line"], ["region", "business_line"]])
def test_restart_restores_windows_from_persisted_cells(group_by):
    rule = {
        "id": "share",
        "kind": "windowed_rate",
        "match": {"labels": ["negative"]},
        "window": "1h",
        "threshold": 0.3,
        "min_samples": 10,
        "group_by": group_by,
    }
    first = engine(rule)
    cells = first.process(
        columns([scored(T0 + timedelta(minutes=i), "negative", region="east") for i in range(9)], {})
    ).cells()
    # as the consumer reads them back: group keys from a JSON object, whatever order the rule lists
    stored = [Cell(c.rule_id, tuple(sorted(dict(c.group_key).items())), c.bucket, c.values) for c in cells]
    restarted = engine(rule)
    restarted.restore(stored, first.watermarks())
    (signal,) = fired(
        restarted.process(columns([scored(T0 + timedelta(minutes=20), "negative", region="east")], {}))
    )
    assert signal.value == 1.0
    assert dict(signal.group_key) == {
        "business_line": "retail",
        **({"region": "east"} if "region" in group_by else {}),
    }
    assert len(restarted.rules[0].groups.keys) == 1, "restored and live events share one group"


def test_bad_rules_file_names_line_and_field():
    text = (
        "rules:\n  - id: x\n    kind: windowed_rate\n    match: {}\n    window: soon\n"
        "    threshold: 0.3\npolicies: {}\n"
    )
    with pytest.raises(ConfigError, match=r"rules.yaml:5: rules.0.windowed_rate.window"):
        parse_yaml(text, AlertingConfig, "rules.yaml")


def test_validate_command_accepts_the_shipped_file_and_refuses_a_bad_one(tmp_path, capsys):
    from services.alerting.validate import main

    assert main(["services/alerting/rules.yaml"]) == 0
    bad = tmp_path / "bad.yaml"
    bad.write_text("rules:\n  - id: x\n    kind: nonsense\npolicies: {}\n")
    assert main([str(bad)]) == 1
    assert "bad.yaml:2" in capsys.readouterr().err


def test_a_rule_can_match_feedback_whose_rating_and_text_disagree():
    e = engine(
        {
            "id": "disagree",
            "kind": "per_feedback",
            "match": {"flags": ["score_text_disagreement"]},
            "group_by": ["feedback_id"],
        }
    )
    flagged = scored(T0, "negative", flags=["score_text_disagreement"], csat=5)
    batch = [flagged, scored(T0, "negative", flags=["truncated"]), scored(T0, "positive")]
    [signal] = fired(e.process(columns(batch, {})))
    assert dict(signal.group_key)["feedback_id"] == str(flagged.feedback_id)


def test_an_unknown_flag_in_a_rule_is_refused_naming_the_field():
    with pytest.raises(ConfigError, match="flags"):
        parse_yaml(
            "rules: [{id: x, kind: per_feedback, match: {flags: [sarcasm]}}]\n"
            "policies: {default: {steps: [{level: L1, timeout: 2h, targets: [{kind: team, name: t}]}]}}",
            AlertingConfig,
        )


def test_a_re_scored_verdict_counts_once_in_windows_but_still_matches_per_feedback_rules():
    share = {
        "id": "share",
        "kind": "windowed_rate",
        "match": {"labels": ["negative"]},
        "window": "1h",
        "threshold": 0.5,
        "min_samples": 10,
    }
    one_star = {"id": "one", "kind": "per_feedback", "match": {"stars_max": 1}, "group_by": ["feedback_id"]}
    e = engine(share, one_star)
    first = [scored(T0 + timedelta(minutes=i), "negative") for i in range(6)]
    first += [scored(T0 + timedelta(minutes=i), "positive") for i in range(6)]
    assert fired(e.process(columns(first, {})), "share") == []  # 6 of 12: not above half
    again = [
        scored(T0 + timedelta(minutes=i), "negative", feedback_id=f.feedback_id, flags=["rescored"])
        for i, f in enumerate(first[6:])
    ]
    outcome = e.process(columns(again, {}))
    assert fired(outcome, "share") == []  # still 6 of 12: the re-scored ones are not new samples
    assert len(fired(outcome, "one")) == 6  # each re-scored 1-star verdict reaches its per-feedback case


def test_the_customers_own_ratings_match_without_text_and_a_missing_rating_never_does():
    e = engine(
        {
            "id": "rated",
            "kind": "per_feedback",
            "match": {"any_of": [{"csat_max": 2}, {"rated_stars_max": 2}, {"nps_max": 6}, {"ces_min": 6}]},
            "group_by": ["feedback_id"],
        }
    )
    hits = [
        scored(T0, "neutral", csat=2),
        scored(T0, "neutral", rated_stars=1),
        scored(T0, "neutral", nps=6),
        scored(T0, "neutral", ces=7),
    ]
    misses = [
        scored(T0, "neutral"),  # no rating at all: no bound holds for a missing answer
        scored(T0, "neutral", csat=3, rated_stars=3, nps=7, ces=5),
    ]
    signals = fired(e.process(columns([*hits, *misses], {})))
    assert {dict(s.group_key)["feedback_id"] for s in signals} == {str(h.feedback_id) for h in hits}


def test_region_and_store_conditions_narrow_a_rule():
    e = engine(
        {
            "id": "east-store",
            "kind": "per_feedback",
            "match": {"regions": ["华东"], "store_ids": ["S1"], "labels": ["negative"]},
            "group_by": ["feedback_id"],
        }
    )
    hit = scored(T0, region="华东", store_id="S1")
    others = [scored(T0, region="华北", store_id="S1"), scored(T0, region="华东", store_id="S2"), scored(T0)]
    signals = fired(e.process(columns([hit, *others], {})))
    assert [dict(s.group_key)["feedback_id"] for s in signals] == [str(hit.feedback_id)]


def test_the_shipped_rules_open_a_case_for_a_low_csat_with_no_text():
    config = load_rules()
    e = RuleEngine(config)
    silent = scored(T0, "neutral", csat=1)  # no text: the model's verdict is neutral
    content = scored(T0, "neutral", csat=4, rated_stars=5)
    signals = fired(e.process(columns([silent, content], {})), "one-star-feedback")
    assert [dict(s.group_key)["feedback_id"] for s in signals] == [str(silent.feedback_id)]
    assert signals[0].rule.start_level == "L1"


def test_ces_above_its_benchmark_fires_since_more_effort_is_worse():
    rule = {"id": "ces", "kind": "score_benchmark", "metric": "ces", "benchmark": 4, "min_samples": 3}

    def day(offset, *answers):
        return [scored(T0 - timedelta(days=offset), "neutral", ces=a) for a in answers]

    easy = engine(rule)
    assert not fired(easy.process(columns(day(1, 2, 3, 4) + day(0, 1), {})))  # mean 3: easy enough
    hard = engine(rule)
    (signal,) = fired(hard.process(columns(day(1, 5, 6, 4) + day(0, 1), {})))
    assert signal.value == pytest.approx(5.0)
    few = engine(rule)
    assert not fired(few.process(columns(day(1, 7, 7) + day(0, 1), {})))  # under min_samples


def _weeks(metric, before, last, per_day=4):
    """Answers over two 7-day periods ending yesterday (`before`, `last`: one day's answers each), and one
    today to move the clock on."""
    days = [(offset, before) for offset in range(14, 7, -1)] + [(offset, last) for offset in range(7, 0, -1)]
    events = [
        scored(T0 - timedelta(days=offset), "neutral", **{metric: a})
        for offset, answers in days
        for a in answers[:per_day]
    ]
    return [*events, scored(T0, "neutral", **{metric: before[0]})]


@pytest.mark.parametrize(
    ("metric", "before", "last", "threshold", "fires"),
    [
        ("nps", [10, 10, 8, 3], [10, 8, 8, 3], {"drop_points": 5}, True),  # NPS 25 → 0
        ("nps", [10, 10, 8, 3], [10, 10, 8, 3], {"drop_points": 5}, False),  # unchanged
        ("nps", [10, 10, 3, 3], [10, 10, 8, 3], {"drop_points": 5}, False),  # better: 0 → 25
        ("csat", [5, 5, 4, 4], [5, 4, 4, 4], {"drop_percent": 5}, True),  # 4.5 → 4.25: −5.6 %
        ("csat", [5, 5, 4, 4], [5, 5, 4, 4], {"drop_percent": 5}, False),
        ("ces", [2, 2, 3, 3], [3, 3, 4, 4], {"drop_points": 0.5}, True),  # effort 2.5 → 3.5: worse
        ("ces", [3, 3, 4, 4], [2, 2, 3, 3], {"drop_points": 0.5}, False),  # effort down: better
    ],
)
def test_a_score_trend_fires_when_the_last_period_is_worse_than_the_one_before(
    metric, before, last, threshold, fires
):
    rule = {"id": "trend", "kind": "score_trend", "metric": metric, "days": 7, "min_samples": 20, **threshold}
    signals = fired(engine(rule).process(columns(_weeks(metric, before, last), {})))
    assert bool(signals) is fires


def test_a_score_trend_needs_enough_answers_in_both_periods_and_a_threshold():
    rule = {"id": "trend", "kind": "score_trend", "metric": "nps", "days": 7, "drop_points": 5}
    thin = _weeks("nps", [10, 10, 8, 3], [3, 3, 3, 3], per_day=2)  # 14 answers a week < 20
    assert not fired(engine(rule).process(columns(thin, {})))
    with pytest.raises(ValueError, match="drop_points"):
        engine({"id": "trend", "kind": "score_trend", "metric": "nps"})


def test_the_oldest_held_bucket_follows_the_newest_event_and_only_moved_rules_are_pruned_again():
    from services.alerting.evaluation.state import AlertingState

    e = engine(
        share_rule(min_samples=1),
        {"id": "one-star", "kind": "per_feedback", "match": {"stars_max": 1}, "group_by": ["feedback_id"]},
    )
    assert e.oldest_held() == {}  # no event yet: nothing to prune
    e.process(columns([scored(T0, "negative")], {}))
    # 5-minute buckets; the ring holds the window's 12, the 10 minutes of lateness and one more
    newest = int(T0.timestamp() // 300)
    assert e.oldest_held() == {"share": newest - 14}
    e.process(columns([scored(T0 - timedelta(minutes=30), "negative")], {}))
    assert e.oldest_held() == {"share": newest - 14}  # an older event moves nothing
    state = AlertingState(lambda: AlertingConfig.model_validate({"rules": [], "policies": POLICY}))
    assert state.to_prune(e.oldest_held()) == {"share": newest - 14}
    assert state.to_prune(e.oldest_held()) == {}
    e.process(columns([scored(T0 + timedelta(minutes=5), "negative")], {}))
    assert state.to_prune(e.oldest_held()) == {"share": newest - 13}
