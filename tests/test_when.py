from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from lifecycle.when import parse_when

KOLKATA = ZoneInfo("Asia/Kolkata")
NOW = datetime(2026, 11, 27, 13, 30, tzinfo=UTC)  # 19:00 in Kolkata


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("now", NOW),
        ("2026-11-27T19:00:00+05:30", datetime(2026, 11, 27, 13, 30, tzinfo=UTC)),
        ("2026-11-27T13:30:00Z", datetime(2026, 11, 27, 13, 30, tzinfo=UTC)),
        ("2026-11-28T09:30", datetime(2026, 11, 28, 4, 0, tzinfo=UTC)),  # wall time in the zone
        ("+2h", datetime(2026, 11, 27, 15, 30, tzinfo=UTC)),
        ("-1d", datetime(2026, 11, 26, 13, 30, tzinfo=UTC)),
        ("tomorrow 19:00", datetime(2026, 11, 28, 13, 30, tzinfo=UTC)),
        ("today 09:30", datetime(2026, 11, 27, 4, 0, tzinfo=UTC)),
        ("yesterday", datetime(2026, 11, 25, 18, 30, tzinfo=UTC)),
    ],
)
def test_parse_when(text: str, expected: datetime) -> None:
    assert parse_when(text, now=NOW, tz=KOLKATA) == expected


def test_parse_when_result_is_utc() -> None:
    assert parse_when("2026-11-27T19:00:00+05:30", now=NOW, tz=KOLKATA).tzinfo == UTC


def test_parse_when_rejects_nonsense_with_the_accepted_forms() -> None:
    with pytest.raises(ValueError, match="use ISO-8601 with an offset"):
        parse_when("next friday", now=NOW, tz=KOLKATA)
