"""Tables of the loyalty service, all in its own `loyalty` schema."""

from sqlalchemy import MetaData

from shared.db.idempotency import processed_events_table

metadata = MetaData(schema="loyalty")
processed_events = processed_events_table(metadata)
