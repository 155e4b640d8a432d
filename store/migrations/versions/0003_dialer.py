"""dialer: dialing settings, entry due time and agent, agent events, machine status

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import store.types

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

STATUSES_BEFORE = (
    "scheduled",
    "queued",
    "initiated",
    "ringing",
    "in-progress",
    "completed",
    "busy",
    "no-answer",
    "failed",
    "canceled",
    "abandoned",
    "sent",
    "delivered",
    "undelivered",
)
STATUSES = (*STATUSES_BEFORE, "machine")


def _statuses(statuses: tuple[str, ...]) -> None:
    with op.batch_alter_table("attempts", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_attempts_ck_attemptstatus"), type_="check")
        batch_op.create_check_constraint(
            op.f("ck_attempts_ck_attemptstatus"), sa.column("status").in_(statuses)
        )


def upgrade() -> None:
    _statuses(STATUSES)
    # an entry's attempts are counted before every dial and after every outcome
    with op.batch_alter_table("attempts", schema=None) as batch_op:
        batch_op.create_index(
            "ix_attempts_entry_channel", ["list_entry_id", "channel"], unique=False
        )
    op.create_table(
        "agent_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("agent_id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=True),
        sa.Column("attempt_id", sa.Integer(), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("pause_code", sa.String(length=32), nullable=True),
        sa.Column("at", store.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["agent_id"], ["users.id"], name=op.f("fk_agent_events_agent_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["attempt_id"], ["attempts.id"], name=op.f("fk_agent_events_attempt_id_attempts")
        ),
        sa.ForeignKeyConstraint(
            ["campaign_id"], ["campaigns.id"], name=op.f("fk_agent_events_campaign_id_campaigns")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agent_events")),
    )
    with op.batch_alter_table("agent_events", schema=None) as batch_op:
        batch_op.create_index("ix_agent_events_agent_at", ["agent_id", "at"], unique=False)

    op.create_table(
        "inbound_messages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("provider_sid", sa.String(length=64), nullable=False),
        sa.Column("phone", sa.String(length=16), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=True),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("keyword", sa.String(length=16), nullable=True),
        sa.Column("reply", sa.Text(), nullable=True),
        sa.Column("received_at", store.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_inbound_messages_customer_id_customers"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inbound_messages")),
        sa.UniqueConstraint("provider_sid", name=op.f("uq_inbound_messages_provider_sid")),
    )
    with op.batch_alter_table("inbound_messages", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_inbound_messages_phone"), ["phone"], unique=False)

    # campaigns that exist before this revision dial with the defaults
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("dialing", sa.JSON(), nullable=False, server_default=sa.text("'{}'"))
        )

    with op.batch_alter_table("list_entries", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("due_at", store.types.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("assigned_agent_id", sa.Integer(), nullable=True))
        batch_op.drop_index(batch_op.f("ix_list_entries_campaign_status"))
        batch_op.create_index(
            "ix_list_entries_campaign_status", ["campaign_id", "status", "due_at"], unique=False
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_list_entries_assigned_agent_id_users"),
            "users",
            ["assigned_agent_id"],
            ["id"],
        )


def downgrade() -> None:
    # a machine-answered call was a completed call before this revision
    op.execute(sa.text("UPDATE attempts SET status = 'completed' WHERE status = 'machine'"))
    _statuses(STATUSES_BEFORE)
    with op.batch_alter_table("attempts", schema=None) as batch_op:
        batch_op.drop_index("ix_attempts_entry_channel")
    with op.batch_alter_table("list_entries", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_list_entries_assigned_agent_id_users"), type_="foreignkey"
        )
        batch_op.drop_index("ix_list_entries_campaign_status")
        batch_op.create_index(
            batch_op.f("ix_list_entries_campaign_status"), ["campaign_id", "status"], unique=False
        )
        batch_op.drop_column("assigned_agent_id")
        batch_op.drop_column("due_at")

    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.drop_column("dialing")

    with op.batch_alter_table("agent_events", schema=None) as batch_op:
        batch_op.drop_index("ix_agent_events_agent_at")

    op.drop_table("agent_events")

    with op.batch_alter_table("inbound_messages", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_inbound_messages_phone"))

    op.drop_table("inbound_messages")
