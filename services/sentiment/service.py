"""The scorer a running service holds: the loaded model (or why it is missing), its batcher and taggers."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from services.sentiment.aspects import AspectTagger
from services.sentiment.backends import LoadedModel, ModelUnavailable, load_model
from services.sentiment.batcher import MicroBatcher, Scored
from services.sentiment.config import SentimentSettings
from services.sentiment.metrics import FLAGS, LABELS, MODEL, STARS, business_line_label
from services.sentiment.scoring import ScoringContext, build_scored
from shared.contracts.feedback import FeedbackReceived, FeedbackScored, ModelRef
from shared.textfold import to_simplified


@dataclass
class Scorer:
    model: LoadedModel
    batcher: MicroBatcher
    context: ScoringContext

    async def score_texts(self, texts: Sequence[str], *, urgent: bool = False) -> list[Scored | None]:
        """None for empty (whitespace-only) texts, which are not run through the model. `urgent` (an API
        caller waiting) goes ahead of the consumer's backlog. The model reads Traditional Chinese folded
        to Simplified, the script it was trained on."""
        nonempty = [i for i, t in enumerate(texts) if t.strip()]
        folded = [to_simplified(texts[i]) for i in nonempty]
        results = await self.batcher.score(folded, urgent=urgent) if nonempty else []
        out: list[Scored | None] = [None] * len(texts)
        for i, result in zip(nonempty, results, strict=True):
            out[i] = result
        return out

    async def score_records(self, records: Sequence[FeedbackReceived]) -> list[FeedbackScored]:
        scored = await self.score_texts([r.text for r in records])
        out = [build_scored(r, s, self.context) for r, s in zip(records, scored, strict=True)]
        for item in out:
            line = business_line_label(item.business_line)
            LABELS.labels(line, item.label).inc()
            STARS.labels(line).observe(item.stars)
            for flag in item.flags:
                FLAGS.labels(flag).inc()
        return out


def build_scorer(settings: SentimentSettings, tagger: AspectTagger) -> Scorer | ModelUnavailable:
    """The scorer, or the reason the model could not be loaded (the service then reports not ready)."""
    try:
        model = load_model(
            settings.model,
            settings.backend,
            max_length=settings.max_length,
            threads=settings.threads,
            onnx_cache=settings.onnx_cache,
        )
    except ModelUnavailable as exc:
        return exc
    ref = ModelRef(id=model.id, version=model.version, backend=model.backend.name)
    MODEL.info({"id": model.id, "version": model.version, "backend": model.backend.name})
    batcher = MicroBatcher(
        model.backend,
        max_batch=settings.max_batch,
        max_tokens=settings.max_tokens,
        max_wait_s=settings.max_wait_ms / 1000,
    )
    return Scorer(model, batcher, ScoringContext(model.labels, tagger, ref))
