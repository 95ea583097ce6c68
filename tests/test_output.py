"""What a person reads: every instant in the rules' zone with its offset, logs included."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from lifecycle.cli import JsonLogFormatter, ZonedLogFormatter
from lifecycle.model import Action, Hold, Mode, Outcome
from lifecycle.output import audit_line, audit_to_json, hold_line
from lifecycle.store import AuditRow
from tests.conftest import NOW

KOLKATA = ZoneInfo("Asia/Kolkata")

ROW = AuditRow(
    id=1, at=NOW + timedelta(microseconds=250), tick_id=7, campaign_id="c1",
    campaign_name="Diwali", rule="pause-outside-business-hours", action=Action.PAUSE,
    step=Action.PAUSE, outcome=Outcome.SUCCEEDED, http_status=200, request_id="r-1",
    error=None, reason="outside business-hours", ruleset="sha256:ab", mode=Mode.ENFORCE,
)  # fmt: skip


def test_an_audit_line_is_in_the_rules_zone() -> None:
    assert audit_line(ROW, KOLKATA) == (
        "2026-11-27T19:00:00+05:30  c1  pause-outside-business-hours  pause  succeeded  "
        "http=200  request=r-1  outside business-hours"
    )


def test_audit_json_keeps_the_contract_with_the_instant_in_the_rules_zone() -> None:
    shown = audit_to_json(ROW, KOLKATA)
    assert shown.keys() == ROW.to_json().keys()
    assert shown["at"] == "2026-11-27T19:00:00.000250+05:30"
    assert datetime.fromisoformat(shown["at"]) == ROW.at


def test_a_hold_line_is_in_the_rules_zone() -> None:
    hold = Hold("c1", datetime(2026, 11, 30, 4, 0, tzinfo=UTC), "customer asked", NOW)
    assert hold_line(hold, KOLKATA) == "c1  until 2026-11-30T09:30:00+05:30  customer asked"


def _record() -> logging.LogRecord:
    record = logging.LogRecord("lifecycle.cycle", logging.INFO, __file__, 1, "tick done", (), None)
    record.created = NOW.timestamp()
    return record


def test_text_logs_are_stamped_in_the_rules_zone() -> None:
    formatter = ZonedLogFormatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s", KOLKATA)
    assert formatter.format(_record()) == (
        "2026-11-27T19:00:00.000+05:30 INFO    lifecycle.cycle: tick done"
    )


def test_json_logs_are_stamped_in_the_rules_zone() -> None:
    entry = json.loads(JsonLogFormatter(KOLKATA).format(_record()))
    assert entry == {
        "at": "2026-11-27T19:00:00.000+05:30",
        "level": "info",
        "logger": "lifecycle.cycle",
        "message": "tick done",
    }
