"""The schema, as SQLAlchemy Core tables on one MetaData (Alembic's `target_metadata`).

Every instant is a `UtcDateTime`. Enumerations (status, outcome, state, mode) are stored
as their string values so that the audit trail reads plainly in any SQL console.
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)

from lifecycle.records import IntentState
from lifecycle.store.types import UtcDateTime

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


def _account() -> Column[str]:
    """The Exotel account a row belongs to (revision 0003; rows from before it are the
    account `lifecycle db upgrade` was told they belong to)."""
    return Column("account", String, nullable=False, server_default="")


def _state_in(states: tuple[str, ...]) -> str:
    listed = ", ".join(f"'{state}'" for state in states)
    return f"state IN ({listed})"


# Intents in these states still block their campaign: the step may or may not have happened.
UNRESOLVED_STATES = tuple(state.value for state in IntentState if not state.is_resolved)
_UNRESOLVED_SQL = text(_state_in(UNRESOLVED_STATES))

ticks = Table(
    "ticks",
    metadata,
    Column("id", Integer, primary_key=True),
    _account(),
    Column("started_at", UtcDateTime, nullable=False),
    Column("finished_at", UtcDateTime),
    Column("ruleset", String, nullable=False),
    Column("dry_run", Boolean, nullable=False),
    Column("campaigns", Integer),
    Column("actions", Integer),
    Column("error", Text),
)

campaigns = Table(
    "campaigns",
    metadata,
    Column("account", String, primary_key=True, server_default=""),
    Column("id", String, primary_key=True),
    Column("name", String, nullable=False),
    Column("status", String, nullable=False),
    # When the row was written: first seen, or its name or status last changed. A steady
    # poll does not touch it; when the campaign was last seen is in status_history/polls.
    Column("last_seen_at", UtcDateTime, nullable=False),
)

status_history = Table(
    "status_history",
    metadata,
    Column("id", Integer, primary_key=True),
    _account(),
    Column("campaign_id", String, nullable=False),
    Column("status", String, nullable=False),
    Column("since", UtcDateTime, nullable=False),
    Column("first_seen_at", UtcDateTime, nullable=False),
    # NULL while the campaign is in every list since this row (its newest): it was last
    # seen at `polls.listed_at` then (or at `first_seen_at` if later: a step of ours wrote
    # the row). Set when the campaign leaves this status or goes missing from a list, so a
    # steady poll writes nothing here (revision 0005).
    Column("last_seen_at", UtcDateTime),
    # True when the campaign was already in this status when first seen: `since` is then a
    # lower bound (rows from before that rule hold date_updated; readers use first_seen_at).
    Column("estimated", Boolean, nullable=False),
    Index(None, "account", "campaign_id", "id"),
)

# When each account's campaign list was last read: what a status_history row with no
# `last_seen_at` of its own was last seen at (revision 0005).
polls = Table(
    "polls",
    metadata,
    Column("account", String, primary_key=True, server_default=""),
    Column("listed_at", UtcDateTime, nullable=False),
)

decisions = Table(
    "decisions",
    metadata,
    Column("id", Integer, primary_key=True),
    _account(),
    Column("tick_id", Integer, ForeignKey("ticks.id"), nullable=False, index=True),
    Column("at", UtcDateTime, nullable=False, index=True),
    Column("campaign_id", String, nullable=False),
    Column("campaign_name", String, nullable=False),
    Column("status", String),
    Column("rule", String, nullable=False),
    Column("action", String, nullable=False),
    Column("steps", String, nullable=False),
    Column("mode", String),
    Column("kind", String, nullable=False),
    Column("reason", Text, nullable=False),
    Column("ruleset", String, nullable=False),
    CheckConstraint("kind IN ('action', 'skipped', 'shadowed')", name="kind"),
    Index(None, "account", "campaign_id", "at"),
)

intents = Table(
    "intents",
    metadata,
    Column("id", Integer, primary_key=True),
    _account(),
    Column("tick_id", Integer, ForeignKey("ticks.id"), nullable=False, index=True),
    Column("campaign_id", String, nullable=False),
    Column("campaign_name", String, nullable=False),
    Column("rule", String, nullable=False),
    Column("action", String, nullable=False),
    Column("step", String, nullable=False),
    Column("mode", String, nullable=False),
    Column("reason", Text, nullable=False),
    Column("ruleset", String, nullable=False),
    Column("state", String, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("closed_at", UtcDateTime),
    # The lease holder that opened it (NULL before revision 0002), and the database's
    # clock at that moment: the grace before re-reading an unresolved intent runs from it.
    Column("owner", String),
    Column("opened_db_at", UtcDateTime),
    CheckConstraint(_state_in(tuple(state.value for state in IntentState)), name="state"),
    Index(None, "account", "campaign_id", "created_at"),
    # Invariant 2: at most one step in flight (or of unknown outcome) per campaign.
    Index(
        "uq_intents_one_unresolved_per_campaign",
        "account",
        "campaign_id",
        unique=True,
        sqlite_where=_UNRESOLVED_SQL,
        postgresql_where=_UNRESOLVED_SQL,
    ),
)

audit = Table(
    "audit",
    metadata,
    Column("id", Integer, primary_key=True),
    _account(),
    Column("at", UtcDateTime, nullable=False, index=True),
    Column("tick_id", Integer, ForeignKey("ticks.id"), index=True),
    Column("intent_id", Integer, ForeignKey("intents.id"), index=True),
    Column("campaign_id", String, nullable=False),
    Column("campaign_name", String, nullable=False),
    Column("rule", String, nullable=False),
    Column("action", String, nullable=False),
    Column("step", String),
    Column("outcome", String, nullable=False),
    Column("http_status", Integer),
    Column("request_id", String),
    Column("error", Text),
    Column("reason", Text, nullable=False),
    Column("ruleset", String, nullable=False),
    Column("mode", String),
    CheckConstraint(
        "outcome IN ('intent', 'succeeded', 'failed', 'unknown', 'dry-run', 'skipped')",
        name="outcome",
    ),
    Index(None, "account", "campaign_id", "id"),
    Index(None, "account", "rule", "id"),
)

holds = Table(
    "holds",
    metadata,
    Column("account", String, primary_key=True, server_default=""),
    Column("campaign_id", String, primary_key=True),
    Column("until", UtcDateTime, nullable=False),
    Column("reason", Text, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
)

# The daemons sharing this database, each seen by its heartbeat (the database's clock):
# the live ones split the accounts between them (lifecycle.sharing).
daemons = Table(
    "daemons",
    metadata,
    Column("id", String, primary_key=True),
    Column("started_at", UtcDateTime, nullable=False),
    Column("seen_at", UtcDateTime, nullable=False),
    # The accounts it serves, comma-separated: an account is shared only among the daemons
    # configured for it.
    Column("accounts", Text, nullable=False),
)

leases = Table(
    "leases",
    metadata,
    Column("name", String, primary_key=True),
    Column("owner", String, nullable=False),
    Column("renewed_at", UtcDateTime, nullable=False),
    Column("expires_at", UtcDateTime, nullable=False),
    # Which process of `owner` holds it (lease.Incarnation): a restart resumes at once
    # only when the recorded one is provably dead.
    Column("incarnation", String),
)

# One row per message per channel (lifecycle.notify): written before the message is sent,
# so (account, channel, key) is never sent twice, across restarts too: two accounts on
# one rules file each tell their own rejected edit. `payload` is the message as JSON, so
# one still unsent when the process stopped is sent by the next.
notifications = Table(
    "notifications",
    metadata,
    Column("id", Integer, primary_key=True),
    _account(),
    Column("channel", String, nullable=False),
    Column("key", String, nullable=False),
    Column("severity", String, nullable=False),
    Column("payload", Text, nullable=False),
    Column("created_at", UtcDateTime, nullable=False, index=True),
    Column("sent_at", UtcDateTime),
    Column("failed_at", UtcDateTime),  # given up after the last retry
    Column("attempts", Integer, nullable=False),
    Column("error", Text),
    UniqueConstraint("account", "channel", "key"),
)
