"""Insights: feedback and alert facts, their daily rollups, member tiers, processed events.

Revision ID: 0001
Revises:
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "alert_cells",
        sa.Column("dims", sa.String(length=100), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("v1", sa.String(length=200), nullable=False),
        sa.Column("v2", sa.String(length=200), nullable=False),
        sa.Column("fired", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("acked", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("ack_seconds", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("ack_ok", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("resolved", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("resolve_seconds", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("resolve_ok", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("closed_ok", sa.BigInteger(), server_default="0", nullable=False),
        sa.PrimaryKeyConstraint("dims", "day", "v1", "v2"),
        schema="insights",
    )
    op.create_table(
        "alerts",
        sa.Column("alert_id", sa.UUID(), nullable=False),
        sa.Column("rule_id", sa.String(length=100), nullable=False),
        sa.Column("level", sa.String(length=2), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("business_line", sa.String(length=200), server_default="", nullable=False),
        sa.Column("channel", sa.String(length=200), server_default="", nullable=False),
        sa.Column("region", sa.String(length=200), server_default="", nullable=False),
        sa.Column("store_id", sa.String(length=200), server_default="", nullable=False),
        sa.Column("tier", sa.String(length=200), server_default="", nullable=False),
        sa.Column("customer_id", sa.String(length=200), nullable=True),
        sa.Column("feedback_ids", postgresql.ARRAY(sa.UUID()), server_default="{}", nullable=False),
        sa.Column("summary", sa.Text(), server_default="", nullable=False),
        sa.Column("fired_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("acknowledged_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("response_due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("resolution_due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closure_due_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("alert_id"),
        schema="insights",
    )
    op.create_index(
        "alerts_by_day", "alerts", ["day", "fired_at", "alert_id"], unique=False, schema="insights"
    )
    op.create_index(
        "alerts_by_feedback",
        "alerts",
        ["feedback_ids"],
        unique=False,
        schema="insights",
        postgresql_using="gin",
    )
    op.create_table(
        "feedback",
        sa.Column("feedback_id", sa.UUID(), nullable=False),
        sa.Column("customer_id", sa.String(length=200), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("business_line", sa.String(length=200), server_default="", nullable=False),
        sa.Column("channel", sa.String(length=200), server_default="", nullable=False),
        sa.Column("region", sa.String(length=200), server_default="", nullable=False),
        sa.Column("store_id", sa.String(length=200), server_default="", nullable=False),
        sa.Column("tier", sa.String(length=200), server_default="", nullable=False),
        sa.Column("aspects", postgresql.ARRAY(sa.String(length=200)), server_default="{}", nullable=False),
        sa.Column(
            "aspect_labels", postgresql.ARRAY(sa.String(length=20)), server_default="{}", nullable=False
        ),
        sa.Column(
            "negative_aspects", postgresql.ARRAY(sa.String(length=200)), server_default="{}", nullable=False
        ),
        sa.Column(
            "recurrent_aspects", postgresql.ARRAY(sa.String(length=200)), server_default="{}", nullable=False
        ),
        sa.Column("label", sa.String(length=20), nullable=False),
        sa.Column("stars", sa.SmallInteger(), nullable=False),
        sa.Column("rated_stars", sa.SmallInteger(), nullable=True),
        sa.Column("csat", sa.SmallInteger(), nullable=True),
        sa.Column("nps", sa.SmallInteger(), nullable=True),
        sa.Column("ces", sa.SmallInteger(), nullable=True),
        sa.Column("text", sa.Text(), server_default="", nullable=False),
        sa.Column("model_version", sa.String(length=200), nullable=False),
        sa.Column("rescored", sa.Boolean(), server_default="false", nullable=False),
        sa.Column("alert_id", sa.UUID(), nullable=True),
        sa.Column("recorded_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("feedback_id"),
        schema="insights",
    )
    op.create_index(
        "feedback_by_customer", "feedback", ["customer_id", "occurred_at"], unique=False, schema="insights"
    )
    op.create_index(
        "feedback_by_day", "feedback", ["day", "occurred_at", "feedback_id"], unique=False, schema="insights"
    )
    op.create_table(
        "feedback_cells",
        sa.Column("dims", sa.String(length=100), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("v1", sa.String(length=200), nullable=False),
        sa.Column("v2", sa.String(length=200), nullable=False),
        sa.Column("volume", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("negative", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("csat_n", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("csat_sum", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("csat_ok", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("nps_n", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("promoters", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("detractors", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("ces_n", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("ces_sum", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("recurrent", sa.BigInteger(), server_default="0", nullable=False),
        sa.PrimaryKeyConstraint("dims", "day", "v1", "v2"),
        schema="insights",
    )
    op.create_table(
        "member_tiers",
        sa.Column("customer_id", sa.String(length=200), nullable=False),
        sa.Column("tier", sa.String(length=20), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("customer_id"),
        schema="insights",
    )
    op.create_table(
        "processed_events",
        sa.Column("consumer_group", sa.String(length=200), nullable=False),
        sa.Column("event_id", sa.UUID(), nullable=False),
        sa.Column("event_type", sa.String(length=100), nullable=False),
        sa.Column(
            "processed_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.PrimaryKeyConstraint("consumer_group", "event_id"),
        schema="insights",
    )


def downgrade() -> None:
    op.drop_table("processed_events", schema="insights")
    op.drop_table("member_tiers", schema="insights")
    op.drop_table("feedback_cells", schema="insights")
    op.drop_index("feedback_by_day", table_name="feedback", schema="insights")
    op.drop_index("feedback_by_customer", table_name="feedback", schema="insights")
    op.drop_table("feedback", schema="insights")
    op.drop_index("alerts_by_feedback", table_name="alerts", schema="insights", postgresql_using="gin")
    op.drop_index("alerts_by_day", table_name="alerts", schema="insights")
    op.drop_table("alerts", schema="insights")
    op.drop_table("alert_cells", schema="insights")
