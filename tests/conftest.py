"""Shared fixtures. Area-specific fixtures live in tests/fixtures/<area>.py, loaded here."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

pytest_plugins = ["tests.fixtures.sim", "tests.fixtures.db"]

# A Friday evening in Mumbai: 2026-11-27 19:00 IST, just after business hours close.
NOW = datetime(2026, 11, 27, 13, 30, tzinfo=UTC)


@pytest.fixture
def now() -> datetime:
    return NOW
