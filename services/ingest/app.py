"""The ingest service: the HTTP front door that publishes feedback and business events to Kafka."""

from functools import partial

from fastapi import FastAPI

from services.ingest.api import router
from services.ingest.batches import Preparer
from services.ingest.config import IngestSettings
from services.ingest.fastlane import ServiceApp
from services.ingest.gate import IngestState
from shared.ops import operator_router
from shared.service import build_app
from shared.settings import load_settings

DESCRIPTION = """
Accepts omnichannel feedback and business events over HTTP and publishes them to Kafka.

* Authenticate with your client's key in `X-API-Key` (local development: `dev-ingest-key`).
* `202` means Kafka acknowledged the record (acks=all); `200` means this `external_id` was already
  accepted with the same payload; `409` means it was accepted with a different one.
* `503` with `Retry-After` means the broker or database is unavailable: nothing was accepted, retry.
* Personal data (e-mail, phone, card and ID numbers) in text and metadata is masked before publication;
  in identifiers (customer, store, product, order ids, region, external_id) it is replaced by a stable
  keyed pseudonym (`pii_` and 20 letters), so records of one customer still join.
"""


def create_app(settings: IngestSettings | None = None) -> FastAPI:
    settings = settings or load_settings(IngestSettings)
    preparer = Preparer(settings.helper_processes())
    app = build_app(
        service="ingest",
        settings=settings,
        title="Ingest service",
        description=DESCRIPTION,
        routers=[router, operator_router(settings)],
        background=[preparer.run],
        max_body_bytes=settings.max_body_bytes,
        app_class=partial(ServiceApp, service="ingest", max_body_bytes=settings.max_body_bytes),
    )
    app.state.ingest = IngestState(settings, preparer)
    return app
