"""Tables of the sentiment service, all in its own `sentiment` schema."""

from sqlalchemy import MetaData

from shared.db.idempotency import processed_events_table

metadata = MetaData(schema="sentiment")
processed_events = processed_events_table(metadata)
