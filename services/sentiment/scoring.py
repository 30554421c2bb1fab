"""From a received feedback record and the model's probabilities to a feedback.scored.v1 payload (pure)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import NAMESPACE_URL, UUID, uuid5

from pydantic import BaseModel

from services.sentiment.aspects import AspectTagger
from services.sentiment.batcher import Scored
from services.sentiment.labels import LabelMap, Verdict, verdicts
from shared.contracts.envelope import Envelope
from shared.contracts.feedback import FeedbackReceived, FeedbackScored, ModelRef, ScoreFlag

DISAGREEMENT_CONFIDENCE = 0.75
"""A customer's rating and the text disagree when the text's polarity, at least this confident, is the
opposite of the rating's."""
NEUTRAL = Verdict(stars=3, stars_expected=3.0, label="neutral", score=0.0, confidence=0.0)
SCORED_NAMESPACE = uuid5(NAMESPACE_URL, "feedback-platform/feedback.scored.v1")


def scored_event_id(received_event_id: UUID, model: ModelRef) -> UUID:
    """Deterministic per (received event, model id and version): a redelivered or re-run feedback yields the
    same scored event id (consumers dedupe on it); a re-score by another model version is a new verdict."""
    return uuid5(SCORED_NAMESPACE, f"{received_event_id}|{model.id}@{model.version}")


def scored_envelope(
    received_event_id: UUID, scored: FeedbackScored, source: str, produced_at: datetime
) -> Envelope[BaseModel]:
    """The feedback.scored.v1 envelope of one verdict, keyed by customer like the feedback it scores."""
    return Envelope(
        event_id=scored_event_id(received_event_id, scored.model),
        type="feedback.scored",
        occurred_at=scored.occurred_at,
        produced_at=produced_at,
        source=source,
        key=scored.customer_id,
        payload=scored,
    )


def rating_polarity(record: FeedbackReceived) -> int:
    """+1 / -1 / 0 from the customer's own numbers: csat or stars (1-5), else NPS (0-10)."""
    rating = record.csat if record.csat is not None else record.stars
    if rating is not None:
        return 1 if rating >= 4 else (-1 if rating <= 2 else 0)
    if record.nps is not None:
        return 1 if record.nps >= 9 else (-1 if record.nps <= 6 else 0)
    return 0


@dataclass(frozen=True)
class ScoringContext:
    labels: LabelMap
    tagger: AspectTagger
    model: ModelRef


def build_scored(record: FeedbackReceived, scored: Scored | None, ctx: ScoringContext) -> FeedbackScored:
    """`scored` is None for empty text, which is neutral with the `empty_text` flag."""
    flags: list[ScoreFlag] = []
    if scored is None:
        verdict = NEUTRAL
        flags.append("empty_text")
    else:
        verdict = verdicts(scored.probabilities[None, :], ctx.labels)[0]
        if scored.truncated:
            flags.append("truncated")
    if record.language == "other":
        flags.append("unsupported_language")
    polarity = {"positive": 1, "negative": -1, "neutral": 0}[verdict.label]
    rated = rating_polarity(record)
    if rated and polarity == -rated and verdict.confidence >= DISAGREEMENT_CONFIDENCE:
        flags.append("score_text_disagreement")
    return FeedbackScored(
        feedback_id=record.feedback_id,
        client_id=record.client_id,
        external_id=record.external_id,
        customer_id=record.customer_id,
        channel=record.channel,
        language=record.language,
        text=record.text,
        stars=verdict.stars,
        stars_expected=verdict.stars_expected,
        label=verdict.label,
        score=verdict.score,
        confidence=verdict.confidence,
        aspects=ctx.tagger.tag(record.text, verdict.label) if record.text else [],
        flags=flags,
        model=ctx.model,
        rated_stars=record.stars,
        csat=record.csat,
        nps=record.nps,
        ces=record.ces,
        business_line=record.business_line,
        region=record.region,
        store_id=record.store_id,
        product_id=record.product_id,
        occurred_at=record.occurred_at,
        metadata=record.metadata,
    )
