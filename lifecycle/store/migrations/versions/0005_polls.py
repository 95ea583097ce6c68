"""Observation writes that scale with change: a poll no longer rewrites every row.

- `polls`: per account, when the campaign list was last read (`listed_at`).
- `status_history.last_seen_at` may be NULL: the row is its campaign's newest and the
  campaign was in the last list, so it was last seen at `polls.listed_at` (or at the
  row's own `first_seen_at`, when a step of ours wrote it after that list). A row gets a
  time of its own only when it stops being seen: its campaign changes status or is
  missing from a list. Rows written before this revision keep their times, and the next
  poll lets those of campaigns it sees follow the list again.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

Instant = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "polls",
        sa.Column("account", sa.String(), nullable=False, server_default=""),
        sa.Column("listed_at", Instant, nullable=False),
        sa.PrimaryKeyConstraint("account", name="pk_polls"),
    )
    # batch mode: SQLite cannot alter a column in place (it copies the table).
    with op.batch_alter_table("status_history") as history:
        history.alter_column("last_seen_at", existing_type=Instant, nullable=True)


def downgrade() -> None:
    # Give every row following the list its time again, then make the column required.
    op.execute(
        "UPDATE status_history SET last_seen_at = COALESCE("
        "(SELECT listed_at FROM polls WHERE polls.account = status_history.account), "
        "first_seen_at) WHERE last_seen_at IS NULL"
    )
    op.execute(
        "UPDATE status_history SET last_seen_at = first_seen_at WHERE last_seen_at < first_seen_at"
    )
    with op.batch_alter_table("status_history") as history:
        history.alter_column("last_seen_at", existing_type=Instant, nullable=False)
    op.drop_table("polls")
