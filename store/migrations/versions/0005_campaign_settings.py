"""campaign settings: one versioned settings object per campaign and for the site; the
caller ID and settings version on each attempt

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07
"""

import json
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

import store.types

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# the flat keys campaigns.policy and campaigns.dialing held, and where each went
_MOVED = {
    "max_contacts": ("contact_cap", "contacts"),
    "contact_period_days": ("contact_cap", "days"),
    "max_attempts": ("max_attempts", "total"),
    "refusal_cooldown_days": ("cooldowns", "refusal_days"),
    "abandon_cooldown_hours": ("cooldowns", "abandon_hours"),
    "skip_public_holidays": ("holidays", "public"),
    "extra_holidays": ("holidays", "extra"),
}
REASONS_BEFORE = (
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
)
# the per-day attempt limit and the opt-out cooldown
REASONS = (*REASONS_BEFORE[:11], "max_attempts_today", "opt_out_cooldown", *REASONS_BEFORE[11:])
_KEPT = (
    "exclude_open_complaints",
    "abandon_target",
    "ring_timeout",
    "retry_minutes",
    "sms_after_failed_calls",
)


def settings_of(
    pacing: str | None, policy: dict[str, Any], dialing: dict[str, Any]
) -> dict[str, Any]:
    """The new settings from a campaign's old columns: only what was set there."""
    out: dict[str, Any] = {"pacing": dialing.get("mode") or pacing or "progressive"}
    both = {**policy, **dialing}
    for old, (section, key) in _MOVED.items():
        if old in both:
            out.setdefault(section, {})[key] = both[old]
    for key in _KEPT:
        if key in both:
            out[key] = both[key]
    if "window_start" in policy or "window_end" in policy:
        start = str(policy.get("window_start", "08:00"))[:5]
        end = str(policy.get("window_end", "21:00"))[:5]
        out["calling_window"] = {"mon-sun": f"{start}-{end}"}
    if "machine_detection" in dialing or "voicemail" in dialing:
        action = "voicemail" if dialing.get("voicemail", True) else "hang_up_retry"
        out["machine_detection"] = {
            "enabled": bool(dialing.get("machine_detection", True)),
            "action": action,
        }
    return out


def _reasons(reasons: tuple[str, ...]) -> None:
    with op.batch_alter_table("exclusions", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_exclusions_ck_exclusionreason"), type_="check")
        batch_op.create_check_constraint(
            op.f("ck_exclusions_ck_exclusionreason"), sa.column("reason").in_(reasons)
        )


def upgrade() -> None:
    _reasons(REASONS)
    op.create_table(
        "settings_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("scope", sa.String(length=32), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("values", sa.JSON(), nullable=False),
        sa.Column("changed_by", sa.String(length=120), nullable=False),
        sa.Column("changed_at", store.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaigns.id"],
            name=op.f("fk_settings_versions_campaign_id_campaigns"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_settings_versions")),
        sa.UniqueConstraint("scope", "version", name=op.f("uq_settings_versions_scope_version")),
    )
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("settings", sa.JSON(), nullable=False, server_default=sa.text("'{}'"))
        )
        batch_op.add_column(
            sa.Column("settings_version", sa.Integer(), server_default="0", nullable=False)
        )
    with op.batch_alter_table("attempts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("from_number", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("settings_version", sa.Integer(), nullable=True))
    _carry_over()
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.drop_column("policy")
        batch_op.drop_column("dialing")
        batch_op.drop_column("pacing")


def _carry_over() -> None:
    """Each campaign's old settings become its first version, made by this upgrade."""
    bind = op.get_bind()
    rows = bind.execute(sa.text("SELECT id, pacing, policy, dialing FROM campaigns")).all()
    for campaign_id, pacing, policy, dialing in rows:
        values = settings_of(pacing, _json(policy), _json(dialing))
        bind.execute(
            sa.text("UPDATE campaigns SET settings = :values, settings_version = 1 WHERE id = :id"),
            {"values": json.dumps(values), "id": campaign_id},
        )
        bind.execute(
            sa.text(
                "INSERT INTO settings_versions "
                '(scope, campaign_id, version, "values", changed_by, changed_at) '
                "VALUES (:scope, :id, 1, :values, 'upgrade 0005', CURRENT_TIMESTAMP)"
            ),
            {"scope": f"campaign:{campaign_id}", "id": campaign_id, "values": json.dumps(values)},
        )


def _json(value: Any) -> dict[str, Any]:
    if isinstance(value, str):
        value = json.loads(value or "{}")
    return dict(value or {})


def downgrade() -> None:
    # the pacing mode goes back to its column; the other settings return to defaults
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("pacing", sa.String(16), server_default="progressive", nullable=False)
        )
        batch_op.add_column(
            sa.Column("policy", sa.JSON(), nullable=False, server_default=sa.text("'{}'"))
        )
        batch_op.add_column(
            sa.Column("dialing", sa.JSON(), nullable=False, server_default=sa.text("'{}'"))
        )
    bind = op.get_bind()
    for campaign_id, values in bind.execute(sa.text("SELECT id, settings FROM campaigns")).all():
        pacing = _json(values).get("pacing") or "progressive"
        bind.execute(
            sa.text("UPDATE campaigns SET pacing = :pacing WHERE id = :id"),
            {"pacing": pacing, "id": campaign_id},
        )
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.drop_column("settings_version")
        batch_op.drop_column("settings")
    with op.batch_alter_table("attempts", schema=None) as batch_op:
        batch_op.drop_column("settings_version")
        batch_op.drop_column("from_number")
    op.drop_table("settings_versions")
    op.execute(
        sa.text("DELETE FROM exclusions WHERE reason IN ('max_attempts_today', 'opt_out_cooldown')")
    )
    _reasons(REASONS_BEFORE)
