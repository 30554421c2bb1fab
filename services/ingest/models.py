"""Tables of the ingest service, all in its own `ingest` schema."""

from sqlalchemy import MetaData

metadata = MetaData(schema="ingest")
