"""Tables of the alerting service, all in its own `alerting` schema."""

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.dialects.postgresql import UUID as PG_UUID

from shared.db.idempotency import processed_events_table
from shared.db.outbox import outbox_table

metadata = MetaData(schema="alerting")
processed_events = processed_events_table(metadata)
outbox = outbox_table(metadata)

alerts = Table(
    "alerts",
    metadata,
    Column("id", PG_UUID(as_uuid=True), primary_key=True),
    Column("rule_id", String(100), nullable=False),
    Column("group_text", Text, nullable=False),
    Column("group_key", JSONB, nullable=False),
    Column("status", String(20), nullable=False),
    Column("level", String(2), nullable=False),
    Column("count", Integer, nullable=False),
    Column("value", Float),
    Column("summary", Text, nullable=False),
    Column("policy", JSONB, nullable=False),
    Column("timeout_factor", Float, nullable=False),
    Column("next_action", String(20)),
    Column("next_action_at", DateTime(timezone=True)),
    Column("acked_at", DateTime(timezone=True)),
    Column("acked_by", String(200)),
    Column("resolved_at", DateTime(timezone=True)),
    Column("reminders", Integer, nullable=False, server_default="0"),
    Column("silenced", Boolean, nullable=False, server_default="false"),
    Column("customer_id", String(200)),
    Column("evidence", JSONB, nullable=False, server_default="[]"),
    Column("clear_since", DateTime(timezone=True)),
    Column("auto_resolve_s", Float),
    # The resolution target, and when one was missed (the alert keeps the flag once resolved).
    Column("resolve_by", DateTime(timezone=True)),
    Column("sla_missed_at", DateTime(timezone=True)),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Index(
        "alerts_one_open", "rule_id", "group_text", unique=True, postgresql_where=text("status <> 'resolved'")
    ),
    Index("alerts_due", "next_action_at", postgresql_where=text("next_action_at IS NOT NULL")),
    Index("alerts_resolve_by", "resolve_by", postgresql_where=text("status <> 'resolved'")),
    Index("alerts_listing", "created_at", "id"),
    Index("alerts_open_customer", "customer_id", postgresql_where=text("status <> 'resolved'")),
    Index("alerts_held", "id", postgresql_where=text("silenced AND status <> 'resolved'")),
)

timeline = Table(
    "timeline",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("alert_id", PG_UUID(as_uuid=True), nullable=False, index=True),
    Column("kind", String(30), nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("level", String(2)),
    Column("actor", String(200)),
    Column("note", Text),
    Column("detail", JSONB, nullable=False, server_default="{}"),
)

deliveries = Table(
    "deliveries",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("alert_id", PG_UUID(as_uuid=True), nullable=False, index=True),
    Column("transition", String(30), nullable=False),
    Column("channel", String(30), nullable=False),
    Column("target", String(200), nullable=False),
    Column("payload", JSONB, nullable=False),
    Column("status", String(20), nullable=False, server_default="pending"),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("next_attempt_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("last_error", Text),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("sent_at", DateTime(timezone=True)),
    # Set when the page waits for the end of a mute window (dropped then if the alert is not open).
    Column("muted_until", DateTime(timezone=True)),
    Index("deliveries_pending", "next_attempt_at", postgresql_where=text("status = 'pending'")),
)

delivery_attempts = Table(
    "delivery_attempts",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("delivery_id", BigInteger, nullable=False, index=True),
    Column("at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("channel", String(30), nullable=False),
    Column("target", String(200), nullable=False),
    Column("ok", Boolean, nullable=False),
    Column("error", Text),
)

window_cells = Table(
    "window_cells",
    metadata,
    Column("rule_id", String(100), primary_key=True),
    Column("group_text", Text, primary_key=True),
    Column("bucket", BigInteger, primary_key=True),
    Column("group_key", JSONB, nullable=False),
    Column("sums", ARRAY(Float), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

engine_state = Table(
    "engine_state",
    metadata,
    Column("name", String(60), primary_key=True),
    Column("value", Float, nullable=False),
)
"""Per rule id: the newest event time it has seen (epoch seconds), persisted with the window cells."""

orders = Table(
    "orders",
    metadata,
    Column("order_id", String(200), primary_key=True),
    Column("business_line", String(100), nullable=False),
    Column("channel", String(30), nullable=False),
    Column("store_id", String(100), nullable=False),
    Column("placed_at", DateTime(timezone=True), nullable=False),
    Index("orders_placed_at", "placed_at"),
)
"""Purchases of the last ORDER_MEMORY, kept only while a refund-rate rule is loaded."""

member_tiers = Table(
    "member_tiers",
    metadata,
    Column("customer_id", String(200), primary_key=True),
    Column("tier", String(20), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

ack_links = Table(
    "ack_links",
    metadata,
    Column("token_digest", String(64), primary_key=True),
    Column("alert_id", PG_UUID(as_uuid=True), nullable=False),
    Column("recipient", String(200), nullable=False),
    Column("used_at", DateTime(timezone=True), nullable=False),
)
"""Ack links that have been used (each works once), by the SHA-256 of the token."""

silences = Table(
    "silences",
    metadata,
    Column("id", PG_UUID(as_uuid=True), primary_key=True),
    Column("matchers", JSONB, nullable=False),
    Column("starts_at", DateTime(timezone=True), nullable=False),
    Column("ends_at", DateTime(timezone=True), nullable=False),
    Column("created_by", String(200), nullable=False),
    Column("comment", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("deleted_at", DateTime(timezone=True)),
)

audit = Table(
    "audit",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("actor", String(200), nullable=False),
    Column("action", String(60), nullable=False),
    Column("subject", String(200), nullable=False),
    Column("note", Text),
)

handoffs = Table(
    "handoffs",
    metadata,
    Column("deployment", String(200), primary_key=True),
    Column("schedule", String(200), primary_key=True),
    Column("person", String(200), nullable=False),
    Column("since", DateTime(timezone=True), nullable=False),
)
"""Who each schedule had on call when the timer loop last looked, per deployment (its consumer group), so
a change is announced once to the incoming person."""

callbacks = Table(
    "callbacks",
    metadata,
    Column("id", PG_UUID(as_uuid=True), primary_key=True),
    Column("alert_id", PG_UUID(as_uuid=True), nullable=False, unique=True),
    Column("rule_id", String(100), nullable=False),
    Column("customer_id", String(200), nullable=False),
    Column("tier", String(20)),
    Column("resolved_at", DateTime(timezone=True), nullable=False),
    Column("due_at", DateTime(timezone=True), nullable=False),
    Column("status", String(10), nullable=False),
    Column("overdue_alert_id", PG_UUID(as_uuid=True)),
    Column("review_alert_id", PG_UUID(as_uuid=True)),
    Column("done_at", DateTime(timezone=True)),
    Column("done_by", String(200)),
    Column("nps", SmallInteger),
    Column("note", Text),
    Index("callbacks_due", "due_at", postgresql_where=text("status = 'due'")),
    Index("callbacks_done", "done_at"),
)
"""回访: one per resolved case about a customer; `status` is due or done (overdue: due and past `due_at`)."""

console_sessions = Table(
    "console_sessions",
    metadata,
    Column("id_hash", String(64), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("revoked_at", DateTime(timezone=True)),
)
"""Console sign-ins: a cookie opens a session only while its row is unexpired and not revoked (sign-out)."""
