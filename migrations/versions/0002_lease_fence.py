"""The lease fence: who held the lease for each intent, when the database opened it, and
which process (incarnation) holds each lease.

- `leases.incarnation`: the process holding the lease (pid, start time, boot and pid
  namespace), so a restarted daemon with the same host:instance owner can resume its own
  lease at once when that process is provably dead.
- `intents.owner`: the lease holder that opened the intent (the audit trail's answer to
  "who sent this"); NULL for rows written before this revision.
- `intents.opened_db_at`: the database clock when the intent was opened; the grace before
  an unresolved intent is re-read is judged on it. NULL for older rows (no grace).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

Instant = sa.DateTime(timezone=True)


def upgrade() -> None:
    # batch mode: SQLite cannot alter tables in place (it copies them); Postgres alters.
    with op.batch_alter_table("leases") as leases:
        leases.add_column(sa.Column("incarnation", sa.String(), nullable=True))
    with op.batch_alter_table("intents") as intents:
        intents.add_column(sa.Column("owner", sa.String(), nullable=True))
        intents.add_column(sa.Column("opened_db_at", Instant, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("intents") as intents:
        intents.drop_column("opened_db_at")
        intents.drop_column("owner")
    with op.batch_alter_table("leases") as leases:
        leases.drop_column("incarnation")
