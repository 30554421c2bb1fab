"""Tables of the alerting service, all in its own `alerting` schema."""

from sqlalchemy import MetaData

from shared.db.idempotency import processed_events_table

metadata = MetaData(schema="alerting")
processed_events = processed_events_table(metadata)
