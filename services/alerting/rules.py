"""Alert rules and escalation policies: validated YAML (see rules.yaml for the shipped defaults)."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Literal, Self

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from services.alerting.lifecycle.mute import InhibitRule, TimeInterval
from shared.contracts.alerts import Level
from shared.contracts.feedback import Channel, ScoreFlag, SentimentLabel
from shared.contracts.loyalty import Tier
from shared.yamlconfig import load_yaml

DEFAULT_RULES = Path(__file__).with_name("rules.yaml")
LEVELS: tuple[Level, ...] = ("L1", "L2", "L3", "L4")
Dimension = Literal[
    "business_line", "region", "channel", "store_id", "product_id", "aspect", "customer_id", "feedback_id"
]
CommerceDimension = Literal["business_line", "channel", "store_id"]
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d)\s*$")


def _duration(value: object) -> object:
    """30s / 15m / 2h / 7d; anything else goes to pydantic (ISO 8601 such as PT2H, as snapshots store it)."""
    match = _DURATION.match(value) if isinstance(value, str) else None
    if match:
        number, unit = float(match.group(1)), match.group(2)
        return timedelta(seconds=number * {"s": 1, "m": 60, "h": 3600, "d": 86400}[unit])
    return value


Duration = Annotated[timedelta, BeforeValidator(_duration)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Condition(Strict):
    """All given fields must hold (AND); `any_of` adds alternatives (OR of conditions)."""

    stars_max: int | None = Field(default=None, ge=1, le=5)
    """The model's verdict on the text (1–5)."""
    stars_min: int | None = Field(default=None, ge=1, le=5)
    rated_stars_max: int | None = Field(default=None, ge=1, le=5)
    """The customer's own star rating, where they gave one: feedback without it never matches."""
    csat_max: int | None = Field(default=None, ge=1, le=5)
    """The customer's CSAT answer (1–5), where given."""
    nps_max: int | None = Field(default=None, ge=0, le=10)
    """The customer's NPS answer (0–10), where given: `nps_max: 6` is every detractor."""
    ces_min: int | None = Field(default=None, ge=1, le=7)
    """The customer's effort score (1–7, higher is harder), where given."""
    score_max: float | None = Field(default=None, ge=-1, le=1)
    labels: list[SentimentLabel] | None = None
    channels: list[Channel] | None = None
    tiers: list[Tier] | None = None
    aspects: list[str] | None = None
    """Any of these aspects mentioned (with `aspect_label`, only with that polarity)."""
    aspect_label: SentimentLabel | None = None
    keywords: list[str] | None = None
    """Any of these substrings in the text, case-insensitive."""
    business_lines: list[str] | None = None
    regions: list[str] | None = None
    store_ids: list[str] | None = None
    flags: list[ScoreFlag] | None = None
    """Any of these scoring flags, e.g. `score_text_disagreement`: the customer's rating and the text's
    sentiment point opposite ways (a 5-star rating on a complaint)."""
    any_of: list[Condition] | None = None


class TierBoost(Strict):
    tiers: list[Tier]
    levels_up: int = Field(default=1, ge=0, le=3)
    timeout_factor: float = Field(default=0.5, gt=0, le=1)


class RuleCore(Strict):
    """What every rule has: its id, the level and policy its alerts start under, and when they clear."""

    id: str = Field(pattern=r"^[a-z0-9_\-]+$", max_length=100)
    description: str = ""
    start_level: Level = "L1"
    policy: str = "default"
    tier_boost: TierBoost | None = None
    auto_resolve_after: Duration | None = None
    enabled: bool = True


class RuleBase(RuleCore):
    """A rule over scored feedback."""

    group_by: list[Dimension] = Field(default_factory=list)
    filter: Condition = Condition()
    """Which feedback the rule looks at at all (all by default)."""


class PerFeedbackRule(RuleBase):
    kind: Literal["per_feedback"]
    match: Condition


class WindowedRateRule(RuleBase):
    kind: Literal["windowed_rate"]
    match: Condition
    window: Duration
    threshold: float = Field(gt=0, lt=1)
    min_samples: int = Field(default=20, ge=1)


class CountRule(RuleBase):
    """keyword / aspect mentions: more than `threshold` matching feedback within `window`."""

    kind: Literal["keyword_count"]
    match: Condition
    window: Duration
    threshold: int = Field(ge=0)


class BaselineSpikeRule(RuleBase):
    kind: Literal["baseline_spike"]
    window: Duration
    factor: float = Field(default=1.2, gt=1)
    baseline_days: int = Field(default=7, ge=1, le=28)
    min_count: int = Field(default=20, ge=1)


class ScoreBenchmarkRule(RuleBase):
    kind: Literal["score_benchmark"]
    metric: Literal["nps", "csat", "ces"]
    benchmark: float
    """NPS and CSAT breach it by falling below; CES (effort, 1–7) by rising above."""
    days: int = Field(default=1, ge=1, le=30)
    """Consecutive complete days (UTC) the daily score must stay past the benchmark."""
    min_samples: int = Field(default=10, ge=1)


class ScoreTrendRule(RuleBase):
    """A score worse over the last `days` complete days (UTC) than over the `days` before: NPS or CSAT
    down, CES (effort) up, by at least `drop_points` or `drop_percent` of the previous period's score."""

    kind: Literal["score_trend"]
    metric: Literal["nps", "csat", "ces"]
    days: int = Field(default=7, ge=1, le=28)
    drop_points: float | None = Field(default=None, gt=0)
    drop_percent: float | None = Field(default=None, gt=0, le=100)
    min_samples: int = Field(default=20, ge=1)
    """Answers needed in each of the two periods."""

    @model_validator(mode="after")
    def has_a_threshold(self) -> Self:
        if self.drop_points is None and self.drop_percent is None:
            raise ValueError("give drop_points, drop_percent or both")
        return self


class RefundRateRule(RuleCore):
    """Refunds as a share of orders within `window` (both counted by when they happened), per group:
    above `threshold` with at least `min_orders` orders, it fires. A refund counts for its own
    business line, else for the line (channel, store) of its order's purchase when that was seen."""

    kind: Literal["refund_rate"]
    group_by: list[CommerceDimension] = Field(
        default_factory=lambda: list[CommerceDimension](["business_line"])
    )
    window: Duration
    threshold: float = Field(gt=0, lt=1)
    min_orders: int = Field(default=50, ge=1)


class OrderDropRule(RuleCore):
    """A member of `tiers` whose orders over the last `window` fell `drop_percent` or more below their own
    average per window over the `baseline_windows` windows before (at least `min_baseline_orders` on
    average). Judged per customer each time event time completes a sixth of the window; orders are
    counted while the customer is in `tiers`, and a customer is judged once a whole baseline has passed
    since their first counted order."""

    kind: Literal["order_drop"]
    tiers: list[Tier] = Field(default_factory=lambda: list[Tier](["gold", "diamond"]), min_length=1)
    window: Duration = timedelta(days=30)
    baseline_windows: int = Field(default=3, ge=1, le=12)
    drop_percent: float = Field(default=30, gt=0, le=100)
    min_baseline_orders: float = Field(default=2, gt=0)


FeedbackRule = (
    PerFeedbackRule | WindowedRateRule | CountRule | BaselineSpikeRule | ScoreBenchmarkRule | ScoreTrendRule
)
CommerceRule = RefundRateRule | OrderDropRule
"""Rules over commerce.events.v1 (purchases and refunds)."""
Rule = Annotated[FeedbackRule | CommerceRule, Field(discriminator="kind")]


class Target(Strict):
    kind: Literal["person", "team", "schedule"]
    name: str
    channels: list[str] = Field(default_factory=lambda: ["webhook"])
    mute_time_intervals: list[str] = Field(default_factory=list)
    """Named `time_intervals` during which this target is not paged (the page waits for the end)."""


class Step(Strict):
    level: Level
    targets: list[Target] = Field(min_length=1)
    timeout: Duration
    """Unacknowledged this long at this level, the alert escalates to the next."""
    resolve_within: Duration | None = None
    """The resolution target of an alert that fires at this level: unresolved by then, acknowledged or
    not, it is flagged `sla_missed` and moves up a level (once), whose targets are paged. Escalation for
    want of an acknowledgement leaves the target as it was."""
    mute_time_intervals: list[str] = Field(default_factory=list)
    """Named `time_intervals` during which this step pages nobody (its pages wait for the end)."""


class Policy(Strict):
    steps: list[Step] = Field(min_length=1)
    ack_timeout: Duration = timedelta(hours=24)
    """An acknowledged alert still open this long re-enters escalation from its level."""
    remind_every: Duration = timedelta(hours=24)

    @model_validator(mode="after")
    def levels_ascend(self) -> Self:
        order = [LEVELS.index(step.level) for step in self.steps]
        if order != sorted(set(order)):
            raise ValueError("steps must name distinct levels in ascending order (L1 → L4)")
        return self


LOCAL_TIME = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}$"


class Override(Strict):
    """`person` covers the rotation from `start` to `end` (local times of the rotation's time zone)."""

    person: str = Field(min_length=1)
    start: str = Field(pattern=LOCAL_TIME)
    end: str = Field(pattern=LOCAL_TIME)

    @model_validator(mode="after")
    def ordered(self) -> Self:
        if self.end <= self.start:
            raise ValueError("end must be after start")
        return self


class Layer(Strict):
    """A rotation of its own that covers only `during` its windows (nights, weekends) and there takes over
    from the layers below it: people take turns of `shift` from `start` (the schedule's time zone)."""

    people: list[str] = Field(min_length=1)
    start: str = Field(pattern=LOCAL_TIME)
    shift: Duration = timedelta(days=7)
    during: list[TimeInterval] = Field(min_length=1)
    """When it covers: time-interval entries (weekdays, clock ranges, each in its own `location`)."""


class Rotation(Strict):
    """An on-call schedule: people take turns of `shift` each, starting at `start` in `time_zone`;
    `layers` take over during their windows (the last listed that covers wins); an override puts someone
    else on call for a time range, over every layer (the last one listed wins where they overlap)."""

    people: list[str] = Field(min_length=1)
    start: str = Field(pattern=LOCAL_TIME)
    shift: Duration = timedelta(days=7)
    time_zone: str = "Asia/Shanghai"
    layers: list[Layer] = Field(default_factory=list)
    overrides: list[Override] = Field(default_factory=list)
    notify_handoff: bool = True
    """Tell the incoming person when the person on call changes, by the channels that page the schedule."""


class Contact(Strict):
    """Where a person or team is reached, per channel; a value `env:NAME` is read from the environment
    when sending, so secrets such as Slack webhook URLs stay out of the file."""

    webhook: str | None = None
    slack: str | None = None
    email: str | None = None
    wecom: str | None = None
    """A WeCom group robot's webhook URL (…/cgi-bin/webhook/send?key=…)."""
    dingtalk: str | None = None
    """A DingTalk group robot's URL (…/robot/send?access_token=…)."""
    dingtalk_secret: str | None = None
    """The robot's 加签 secret (SEC…); its requests are then signed."""
    feishu: str | None = None
    """A Feishu/Lark custom bot's URL (…/open-apis/bot/v2/hook/…)."""
    feishu_secret: str | None = None
    """The bot's signature secret; its requests are then signed."""
    sms: str | None = None
    """A phone number, sent through the SMS provider (ALERTING_SMS_URL)."""


class Callbacks(Strict):
    """回访: a call back to the customer once their case is resolved, and what its answer leads to.

    Cases about one customer (by feedback or customer) get one; an overdue callback opens an alert of
    its own (`callback-overdue`) that escalates like any other, and an NPS answer below `review_below`
    opens a review case (`callback-review`)."""

    enabled: bool = True
    after: Duration = timedelta(hours=72)
    vip_after: Duration = timedelta(hours=48)
    vip_tiers: list[Tier] = Field(default_factory=lambda: list[Tier](["gold", "diamond"]))
    """Members of these tiers (when the case was resolved) are called back within `vip_after`."""
    review_below: int = Field(default=8, ge=0, le=11)
    review_level: Level = "L2"
    overdue_level: Level = "L1"
    policy: str = "default"


class AlertingConfig(Strict):
    rules: list[Rule]
    policies: dict[str, Policy]
    schedules: dict[str, Rotation] = Field(default_factory=dict)
    contacts: dict[str, Contact] = Field(default_factory=dict)
    allowed_lateness: Duration = timedelta(minutes=10)
    time_intervals: dict[str, list[TimeInterval]] = Field(default_factory=dict)
    """Named recurring windows (Alertmanager's time_intervals); one holds when any of its entries does."""
    inhibit_rules: list[InhibitRule] = Field(default_factory=list)
    callbacks: Callbacks = Callbacks()

    @model_validator(mode="after")
    def references_resolve(self) -> Self:
        if self.callbacks.policy not in self.policies:
            raise ValueError(f"callbacks: unknown policy {self.callbacks.policy!r}")
        ids = [rule.id for rule in self.rules]
        duplicates = {i for i in ids if ids.count(i) > 1}
        if duplicates:
            raise ValueError(f"rule ids must be unique: {sorted(duplicates)}")
        for rule in self.rules:
            if rule.policy not in self.policies:
                raise ValueError(f"rule {rule.id}: unknown policy {rule.policy!r}")
        for policy in self.policies.values():
            for step in policy.steps:
                for target in step.targets:
                    if target.kind == "schedule" and target.name not in self.schedules:
                        raise ValueError(f"unknown schedule {target.name!r}")
                    for name in [*step.mute_time_intervals, *target.mute_time_intervals]:
                        if name not in self.time_intervals:
                            raise ValueError(
                                f"unknown time interval {name!r} (define it under time_intervals)"
                            )
        return self

    def mute_windows(self, step: Step, target: Target) -> list[TimeInterval]:
        """The recurring windows during which `target` of `step` is not paged (unknown names: none)."""
        names = [*step.mute_time_intervals, *target.mute_time_intervals]
        return [entry for name in names for entry in self.time_intervals.get(name, [])]


def load_rules(path: Path = DEFAULT_RULES) -> AlertingConfig:
    return load_yaml(path, AlertingConfig)
