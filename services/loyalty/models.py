"""Tables of the loyalty service, all in its own `loyalty` schema."""

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Index,
    MetaData,
    Numeric,
    String,
    Table,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB

from shared.db.idempotency import processed_events_table
from shared.db.outbox import outbox_table

metadata = MetaData(schema="loyalty")
processed_events = processed_events_table(metadata)

members = Table(
    "members",
    metadata,
    Column("customer_id", String(200), primary_key=True),
    Column("tier", String(20), nullable=False, server_default="bronze"),
    Column("tier_since", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("downgrade_warned_at", DateTime(timezone=True)),
    Column("balance", BigInteger, nullable=False, server_default="0"),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)
lots = Table(
    "lots",
    metadata,
    Column("customer_id", String(200), primary_key=True),
    Column("lot_id", String(200), primary_key=True),
    Column("earned_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("points", BigInteger, nullable=False),
    Column("remaining", BigInteger, nullable=False),
)
ledger = Table(
    "ledger",
    metadata,
    Column("entry_id", BigInteger, primary_key=True, autoincrement=True),
    Column("customer_id", String(200), nullable=False),
    Column("kind", String(30), nullable=False),
    Column("points", BigInteger, nullable=False),
    Column("balance_after", BigInteger, nullable=False),
    Column("source", String(300), nullable=False),
    Column("reason", String(500), nullable=False),
    Column("draws", JSONB, nullable=False, server_default="[]"),
    Column("at", DateTime(timezone=True), nullable=False),
    Index("ledger_customer_entry", "customer_id", "entry_id"),
)
orders = Table(
    "orders",
    metadata,
    Column("customer_id", String(200), primary_key=True),
    Column("order_id", String(200), primary_key=True),
    Column("amount", Numeric(14, 2), nullable=False),
    Column("points_earned", BigInteger, nullable=False),
    Column("points_clawed_back", BigInteger, nullable=False, server_default="0"),
    Column("refunded", Numeric(14, 2), nullable=False, server_default="0"),
    Column("lot_id", String(200), nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Index("orders_customer_at", "customer_id", "at"),
)
"""Orders also carry qualifying spend: rolling spend is Σ(amount − refunded) over orders of the last year."""
rewards = Table(
    "rewards",
    metadata,
    Column("customer_id", String(200), primary_key=True),
    Column("source", String(300), primary_key=True),
    Column("reward", String(40), nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Index("rewards_customer_reward_at", "customer_id", "reward", "at"),
)
tier_history = Table(
    "tier_history",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("customer_id", String(200), nullable=False, index=True),
    Column("from_tier", String(20), nullable=False),
    Column("to_tier", String(20), nullable=False),
    Column("reason", String(200), nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
)
redemptions = Table(
    "redemptions",
    metadata,
    Column("customer_id", String(200), primary_key=True),
    Column("reference", String(200), primary_key=True),
    Column("points", BigInteger, nullable=False),
    Column("draws", JSONB, nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("reversed_at", DateTime(timezone=True)),
)
outbox = outbox_table(metadata)
