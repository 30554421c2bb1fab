"""Tables of the insights service, all in its own `insights` schema.

`feedback` and `alerts` hold one row per feedback and per alert (the facts, replaced when a record is
re-scored or an alert moves on; an alert's row also holds its callback); `feedback_cells` and
`alert_cells` are their rollups, one row per day and combination of at most two dimensions
(services.insights.cells), kept current as the facts change.
"""

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Index,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
    func,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import UUID as PG_UUID

from shared.db.idempotency import processed_events_table

metadata = MetaData(schema="insights")
processed_events = processed_events_table(metadata)

FEEDBACK_COUNTS = (
    "volume",
    "negative",
    "csat_n",
    "csat_sum",
    "csat_ok",
    "nps_n",
    "promoters",
    "detractors",
    "ces_n",
    "ces_sum",
    "recurrent",
)
ALERT_COUNTS = (
    "fired",
    "acked",
    "ack_seconds",
    "ack_ok",
    "resolved",
    "resolve_seconds",
    "resolve_ok",
    "closed_ok",
    "callbacks",
    "callbacks_done",
    "callbacks_on_time",
    "callback_promoters",
    "callback_detractors",
)


def _dimension_columns() -> list[Column[str]]:
    return [
        Column(name, String(200), nullable=False, server_default="")
        for name in ("business_line", "channel", "region", "store_id", "tier")
    ]


def _cells(name: str, counts: tuple[str, ...]) -> Table:
    return Table(
        name,
        metadata,
        Column("dims", String(100), primary_key=True),
        Column("day", Date, primary_key=True),
        Column("v1", String(200), primary_key=True),
        Column("v2", String(200), primary_key=True),
        *(Column(count, BigInteger, nullable=False, server_default="0") for count in counts),
    )


feedback = Table(
    "feedback",
    metadata,
    Column("feedback_id", PG_UUID(as_uuid=True), primary_key=True),
    Column("customer_id", String(200), nullable=False),
    Column("occurred_at", DateTime(timezone=True), nullable=False),
    Column("day", Date, nullable=False),
    *_dimension_columns(),
    Column("aspects", ARRAY(String(200)), nullable=False, server_default="{}"),
    Column("aspect_labels", ARRAY(String(20)), nullable=False, server_default="{}"),
    Column("negative_aspects", ARRAY(String(200)), nullable=False, server_default="{}"),
    Column("recurrent_aspects", ARRAY(String(200)), nullable=False, server_default="{}"),
    Column("label", String(20), nullable=False),
    Column("stars", SmallInteger, nullable=False),
    Column("rated_stars", SmallInteger),
    Column("csat", SmallInteger),
    Column("nps", SmallInteger),
    Column("ces", SmallInteger),
    Column("text", Text, nullable=False, server_default=""),
    Column("model_version", String(200), nullable=False),
    Column("rescored", Boolean, nullable=False, server_default="false"),
    Column("alert_id", PG_UUID(as_uuid=True)),
    Column("recorded_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Index("feedback_by_day", "day", "occurred_at", "feedback_id"),
    Index("feedback_by_customer", "customer_id", "occurred_at"),
)

alerts = Table(
    "alerts",
    metadata,
    Column("alert_id", PG_UUID(as_uuid=True), primary_key=True),
    Column("rule_id", String(100), nullable=False),
    Column("level", String(2), nullable=False),
    Column("day", Date, nullable=False),
    *_dimension_columns(),
    Column("customer_id", String(200)),
    Column("feedback_ids", ARRAY(PG_UUID(as_uuid=True)), nullable=False, server_default="{}"),
    Column("summary", Text, nullable=False, server_default=""),
    Column("fired_at", DateTime(timezone=True), nullable=False),
    Column("acknowledged_at", DateTime(timezone=True)),
    Column("resolved_at", DateTime(timezone=True)),
    Column("response_due_at", DateTime(timezone=True), nullable=False),
    Column("resolution_due_at", DateTime(timezone=True), nullable=False),
    Column("closure_due_at", DateTime(timezone=True), nullable=False),
    Column("callback_due_at", DateTime(timezone=True)),
    Column("callback_done_at", DateTime(timezone=True)),
    Column("callback_nps", SmallInteger),
    Index("alerts_by_day", "day", "fired_at", "alert_id"),
    Index("alerts_by_feedback", "feedback_ids", postgresql_using="gin"),
)

member_tiers = Table(
    "member_tiers",
    metadata,
    Column("customer_id", String(200), primary_key=True),
    Column("tier", String(20), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

feedback_cells = _cells("feedback_cells", FEEDBACK_COUNTS)
alert_cells = _cells("alert_cells", ALERT_COUNTS)
