"""Many accounts: every row says which Exotel account it belongs to.

- `account` on ticks, campaigns, status_history, decisions, intents, audit and holds;
  campaigns and holds are keyed by (account, campaign id), the one-unresolved-intent index
  is per (account, campaign id), and the lookup indexes lead with the account.
- Rows written before this revision belong to the one account the daemon served: the
  upgrade is told which (`lifecycle db upgrade` passes the configured account; the alembic
  command line takes `-x account=SID`) and writes it into every existing row. With rows
  present and no account named, the upgrade stops before changing anything.
- `daemons`: one row per running daemon, its heartbeat by the database's clock and the
  accounts it serves; the live daemons share each account among those serving it.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import context, op

from lifecycle.errors import ConfigError

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UNRESOLVED = sa.text("state IN ('open', 'unknown')")
_ROWS = ("ticks", "campaigns", "status_history", "decisions", "intents", "audit", "holds")
# (table, old index, new index, columns): lookups go by account first.
_INDEXES = (
    (
        "status_history",
        "ix_status_history_campaign_id_id",
        "ix_status_history_account_campaign_id_id",
        ["account", "campaign_id", "id"],
    ),
    (
        "decisions",
        "ix_decisions_campaign_id_at",
        "ix_decisions_account_campaign_id_at",
        ["account", "campaign_id", "at"],
    ),
    (
        "intents",
        "ix_intents_campaign_id_created_at",
        "ix_intents_account_campaign_id_created_at",
        ["account", "campaign_id", "created_at"],
    ),
    (
        "audit",
        "ix_audit_campaign_id_id",
        "ix_audit_account_campaign_id_id",
        ["account", "campaign_id", "id"],
    ),
    ("audit", "ix_audit_rule_id", "ix_audit_account_rule_id", ["account", "rule", "id"]),
)


def configured_account() -> str:
    """The account existing rows belong to: from `lifecycle db upgrade`, or `-x account=`."""
    named = context.config.attributes.get("account") or context.get_x_argument(
        as_dictionary=True
    ).get("account")
    return str(named or "")


def upgrade() -> None:
    account = configured_account()
    bind = op.get_bind()
    if not account:
        filled = [t for t in _ROWS if bind.execute(sa.text(f"SELECT 1 FROM {t} LIMIT 1")).first()]
        if filled:
            raise ConfigError(
                "this database has rows from before accounts (in "
                f"{', '.join(filled)}): name the Exotel account they belong to "
                "(EXOTEL_ACCOUNT_SID, or `lifecycle db upgrade --account SID`)"
            )
    for table in _ROWS:
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("account", sa.String(), nullable=False, server_default=""))
        bind.execute(sa.text(f"UPDATE {table} SET account = :sid"), {"sid": account})
    for table, key in (("campaigns", "id"), ("holds", "campaign_id")):
        with op.batch_alter_table(table) as batch:
            batch.drop_constraint(f"pk_{table}", type_="primary")
            batch.create_primary_key(f"pk_{table}", ["account", key])
    for table, old, new, columns in _INDEXES:
        op.drop_index(old, table_name=table)
        op.create_index(new, table, columns)
    op.drop_index("uq_intents_one_unresolved_per_campaign", table_name="intents")
    _unresolved_index(["account", "campaign_id"])
    op.create_table(
        "daemons",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("accounts", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_daemons"),
    )


def _unresolved_index(columns: list[str]) -> None:
    op.create_index(
        "uq_intents_one_unresolved_per_campaign",
        "intents",
        columns,
        unique=True,
        sqlite_where=UNRESOLVED,
        postgresql_where=UNRESOLVED,
    )


def downgrade() -> None:
    """Back to one account: only possible while the rows belong to at most one."""
    op.drop_table("daemons")
    op.drop_index("uq_intents_one_unresolved_per_campaign", table_name="intents")
    _unresolved_index(["campaign_id"])
    for table, old, new, columns in _INDEXES:
        op.drop_index(new, table_name=table)
        op.create_index(old, table, columns[1:])
    for table, key in (("campaigns", "id"), ("holds", "campaign_id")):
        with op.batch_alter_table(table) as batch:
            batch.drop_constraint(f"pk_{table}", type_="primary")
            batch.create_primary_key(f"pk_{table}", [key])
    for table in _ROWS:
        # In place on both (SQLite 3.35+): a copy of `ticks` would trip the foreign keys
        # of the rows that refer to it. No index refers to the column by now.
        op.execute(f"ALTER TABLE {table} DROP COLUMN account")
