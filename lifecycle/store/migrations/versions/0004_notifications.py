"""Notifications sent (lifecycle.notify): one row per message per channel and account,
written before it is sent, so a restart never sends it again; the payload lets the next
process send one that was still unsent when the last one stopped.

Like every row since 0003, a notification belongs to an account: each account's notifier
claims, resumes and settles only its own, and (account, channel, key) is unique.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from lifecycle.errors import ConfigError

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

Instant = sa.DateTime(timezone=True)


def upgrade() -> None:
    # A build of main from before accounts numbered this table's revision 0003: such a
    # database reads as already past the accounts revision, which it never ran. Say so
    # rather than fail on the existing table (or run without the account columns).
    if sa.inspect(op.get_bind()).has_table("notifications"):
        raise ConfigError(
            "this database has a notifications table from a build before accounts (its "
            "revision 0003 was not the accounts one): restore it from before that build's "
            "`db upgrade`, or drop the notifications table and `alembic stamp 0002` first"
        )
    op.create_table(
        "notifications",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account", sa.String(), nullable=False, server_default=""),
        sa.Column("channel", sa.String(), nullable=False),
        sa.Column("key", sa.String(), nullable=False),
        sa.Column("severity", sa.String(), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("created_at", Instant, nullable=False),
        sa.Column("sent_at", Instant, nullable=True),
        sa.Column("failed_at", Instant, nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_notifications"),
        sa.UniqueConstraint(
            "account", "channel", "key", name="uq_notifications_account_channel_key"
        ),
    )
    op.create_index("ix_notifications_created_at", "notifications", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_notifications_created_at", table_name="notifications")
    op.drop_table("notifications")
