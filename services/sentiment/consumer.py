"""The consumer: feedback.received.v1 batches → scored in micro-batches → feedback.scored.v1."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from services.sentiment.models import processed_events
from services.sentiment.scoring import scored_envelope
from services.sentiment.service import Scorer
from shared.contracts.feedback import FeedbackReceived
from shared.contracts.registry import FEEDBACK_SCORED
from shared.db.idempotency import claim_events, fresh_events
from shared.kafka.consumer import ConsumedEvent, Handler, PoisonEvent
from shared.service import Runtime


def scoring_handler(scorer: Scorer, group: str) -> Callable[[Runtime], Handler]:
    """Guarantees: every received record yields a scored event whose id derives from the received event id
    and the model version, published (acks=all) before the offsets are committed; redeliveries repeat the
    same id."""

    def build(runtime: Runtime) -> Handler:
        topic = FEEDBACK_SCORED.name + runtime.settings.kafka.topic_suffix

        async def handle(batch: list[ConsumedEvent]) -> None:
            for event in batch:
                if not isinstance(event.envelope.payload, FeedbackReceived):
                    raise PoisonEvent(event, f"unexpected payload type {event.envelope.type}")
            # Claims commit only after the scored events are acknowledged: a failure rolls them back and the
            # batch is retried; an already-scored event is not run through the model again.
            async with runtime.database.connection() as conn:
                fresh_ids = await claim_events(
                    conn, processed_events, group, [(e.envelope.event_id, e.envelope.type) for e in batch]
                )
                events = fresh_events(batch, fresh_ids, lambda e: e.envelope.event_id)
                if events:
                    await publish(events)

        async def publish(events: list[ConsumedEvent]) -> None:
            records = [e.envelope.payload for e in events]
            scored = await scorer.score_records(records)  # type: ignore[arg-type]
            now = datetime.now(UTC)
            envelopes = [
                scored_envelope(e.envelope.event_id, s, runtime.service, now)
                for e, s in zip(events, scored, strict=True)
            ]
            await runtime.producer.publish_many(topic, envelopes)

        return handle

    return build
