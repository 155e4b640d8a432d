"""planner: exclusions, campaign plan, list entry details

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import store.types

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


MODEL_KINDS_BEFORE = ("churn", "uplift")
MODEL_KINDS = (*MODEL_KINDS_BEFORE, "propensity")


def _model_kinds(kinds: tuple[str, ...]) -> None:
    with op.batch_alter_table("model_versions", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_model_versions_ck_modelkind"), type_="check")
        batch_op.create_check_constraint(
            op.f("ck_model_versions_ck_modelkind"), sa.column("kind").in_(kinds)
        )


def upgrade() -> None:
    _model_kinds(MODEL_KINDS)
    # rows that exist before this revision get an empty plan / details
    op.create_table(
        "exclusions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("list_entry_id", sa.Integer(), nullable=True),
        sa.Column("stage", sa.String(length=8), nullable=False),
        sa.Column(
            "reason",
            sa.Enum(
                "no_phone",
                "no_consent",
                "do_not_call",
                "opted_out",
                "no_timezone",
                "outside_window",
                "holiday",
                "contact_cap",
                "refusal_cooldown",
                "abandon_cooldown",
                "max_attempts",
                "open_complaint",
                "on_active_list",
                "higher_priority_list",
                "not_worth_calling",
                "over_capacity",
                name="ck_exclusionreason",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("detail", sa.String(length=200), nullable=True),
        sa.Column("created_at", store.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaigns.id"],
            name=op.f("fk_exclusions_campaign_id_campaigns"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_exclusions_customer_id_customers")
        ),
        sa.ForeignKeyConstraint(
            ["list_entry_id"],
            ["list_entries.id"],
            name=op.f("fk_exclusions_list_entry_id_list_entries"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_exclusions")),
    )
    with op.batch_alter_table("exclusions", schema=None) as batch_op:
        batch_op.create_index(
            "ix_exclusions_campaign_reason", ["campaign_id", "reason"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_exclusions_customer_id"), ["customer_id"], unique=False
        )

    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.add_column(sa.Column("model_version_id", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column("plan", sa.JSON(), nullable=False, server_default=sa.text("'{}'"))
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_campaigns_model_version_id_model_versions"),
            "model_versions",
            ["model_version_id"],
            ["id"],
        )

    with op.batch_alter_table("list_entries", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("details", sa.JSON(), nullable=False, server_default=sa.text("'{}'"))
        )


def downgrade() -> None:
    op.execute(sa.text("DELETE FROM model_versions WHERE kind = 'propensity'"))
    _model_kinds(MODEL_KINDS_BEFORE)
    with op.batch_alter_table("list_entries", schema=None) as batch_op:
        batch_op.drop_column("details")

    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_campaigns_model_version_id_model_versions"), type_="foreignkey"
        )
        batch_op.drop_column("plan")
        batch_op.drop_column("model_version_id")

    with op.batch_alter_table("exclusions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_exclusions_customer_id"))
        batch_op.drop_index("ix_exclusions_campaign_reason")

    op.drop_table("exclusions")
