"""The initial schema: ticks, campaigns, status history, decisions, intents, audit,
holds and leases.

Revision ID: 0001
Revises:
Create Date: 2026-11-27
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Migrations freeze the DDL: UtcDateTime's conversions live in Python, on disk it is this.
Instant = sa.DateTime(timezone=True)
UNRESOLVED = sa.text("state IN ('open', 'unknown')")


def upgrade() -> None:
    _create_observations()
    _create_ticks_and_decisions()
    _create_intents_and_audit()
    _create_holds_and_leases()


def _create_observations() -> None:
    op.create_table(
        "campaigns",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("last_seen_at", Instant, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_campaigns"),
    )
    op.create_table(
        "status_history",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.String(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("since", Instant, nullable=False),
        sa.Column("first_seen_at", Instant, nullable=False),
        sa.Column("last_seen_at", Instant, nullable=False),
        sa.Column("estimated", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_status_history"),
    )
    op.create_index("ix_status_history_campaign_id_id", "status_history", ["campaign_id", "id"])


def _create_ticks_and_decisions() -> None:
    op.create_table(
        "ticks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("started_at", Instant, nullable=False),
        sa.Column("finished_at", Instant, nullable=True),
        sa.Column("ruleset", sa.String(), nullable=False),
        sa.Column("dry_run", sa.Boolean(), nullable=False),
        sa.Column("campaigns", sa.Integer(), nullable=True),
        sa.Column("actions", sa.Integer(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_ticks"),
    )
    op.create_table(
        "decisions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tick_id", sa.Integer(), nullable=False),
        sa.Column("at", Instant, nullable=False),
        sa.Column("campaign_id", sa.String(), nullable=False),
        sa.Column("campaign_name", sa.String(), nullable=False),
        sa.Column("status", sa.String(), nullable=True),
        sa.Column("rule", sa.String(), nullable=False),
        sa.Column("action", sa.String(), nullable=False),
        sa.Column("steps", sa.String(), nullable=False),
        sa.Column("mode", sa.String(), nullable=True),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("ruleset", sa.String(), nullable=False),
        sa.CheckConstraint("kind IN ('action', 'skipped', 'shadowed')", name="ck_decisions_kind"),
        sa.ForeignKeyConstraint(["tick_id"], ["ticks.id"], name="fk_decisions_tick_id_ticks"),
        sa.PrimaryKeyConstraint("id", name="pk_decisions"),
    )
    op.create_index("ix_decisions_at", "decisions", ["at"])
    op.create_index("ix_decisions_campaign_id_at", "decisions", ["campaign_id", "at"])
    op.create_index("ix_decisions_tick_id", "decisions", ["tick_id"])


def _create_intents_and_audit() -> None:
    op.create_table(
        "intents",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tick_id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.String(), nullable=False),
        sa.Column("campaign_name", sa.String(), nullable=False),
        sa.Column("rule", sa.String(), nullable=False),
        sa.Column("action", sa.String(), nullable=False),
        sa.Column("step", sa.String(), nullable=False),
        sa.Column("mode", sa.String(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("ruleset", sa.String(), nullable=False),
        sa.Column("state", sa.String(), nullable=False),
        sa.Column("created_at", Instant, nullable=False),
        sa.Column("closed_at", Instant, nullable=True),
        sa.CheckConstraint(
            "state IN ('open', 'unknown', 'succeeded', 'failed')", name="ck_intents_state"
        ),
        sa.ForeignKeyConstraint(["tick_id"], ["ticks.id"], name="fk_intents_tick_id_ticks"),
        sa.PrimaryKeyConstraint("id", name="pk_intents"),
    )
    op.create_index("ix_intents_campaign_id_created_at", "intents", ["campaign_id", "created_at"])
    op.create_index("ix_intents_tick_id", "intents", ["tick_id"])
    op.create_index(
        "uq_intents_one_unresolved_per_campaign",
        "intents",
        ["campaign_id"],
        unique=True,
        sqlite_where=UNRESOLVED,
        postgresql_where=UNRESOLVED,
    )
    op.create_table(
        "audit",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", Instant, nullable=False),
        sa.Column("tick_id", sa.Integer(), nullable=True),
        sa.Column("intent_id", sa.Integer(), nullable=True),
        sa.Column("campaign_id", sa.String(), nullable=False),
        sa.Column("campaign_name", sa.String(), nullable=False),
        sa.Column("rule", sa.String(), nullable=False),
        sa.Column("action", sa.String(), nullable=False),
        sa.Column("step", sa.String(), nullable=True),
        sa.Column("outcome", sa.String(), nullable=False),
        sa.Column("http_status", sa.Integer(), nullable=True),
        sa.Column("request_id", sa.String(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("ruleset", sa.String(), nullable=False),
        sa.Column("mode", sa.String(), nullable=True),
        sa.CheckConstraint(
            "outcome IN ('intent', 'succeeded', 'failed', 'unknown', 'dry-run', 'skipped')",
            name="ck_audit_outcome",
        ),
        sa.ForeignKeyConstraint(["intent_id"], ["intents.id"], name="fk_audit_intent_id_intents"),
        sa.ForeignKeyConstraint(["tick_id"], ["ticks.id"], name="fk_audit_tick_id_ticks"),
        sa.PrimaryKeyConstraint("id", name="pk_audit"),
    )
    op.create_index("ix_audit_at", "audit", ["at"])
    op.create_index("ix_audit_campaign_id_id", "audit", ["campaign_id", "id"])
    op.create_index("ix_audit_intent_id", "audit", ["intent_id"])
    op.create_index("ix_audit_rule_id", "audit", ["rule", "id"])
    op.create_index("ix_audit_tick_id", "audit", ["tick_id"])


def _create_holds_and_leases() -> None:
    op.create_table(
        "holds",
        sa.Column("campaign_id", sa.String(), nullable=False),
        sa.Column("until", Instant, nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("created_at", Instant, nullable=False),
        sa.PrimaryKeyConstraint("campaign_id", name="pk_holds"),
    )
    op.create_table(
        "leases",
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("owner", sa.String(), nullable=False),
        sa.Column("renewed_at", Instant, nullable=False),
        sa.Column("expires_at", Instant, nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_leases"),
    )


def downgrade() -> None:
    # Dropping a table drops its indexes; children before the tables they reference.
    for table in (
        "audit",
        "intents",
        "decisions",
        "ticks",
        "status_history",
        "campaigns",
        "holds",
        "leases",
    ):
        op.drop_table(table)
