"""Request bodies: unwrap `{"campaigns":[{...}]}` or the flat form, and validate fields.

Every problem is a 400 Refusal naming the field, the way a strict server would answer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from lifecycle.model import Action

from .wire import Refusal, from_rfc3339

MAX_NUMBERS = 5000
MAX_LISTS = 5
NUMBERS_PER_LIST = 100  # a simulated contact list's size
_NUMBER = re.compile(r"^\+?\d{8,15}$")
_CALLBACKS = frozenset({"status_callback", "call_status_callback", "call_schedule_callback"})


@dataclass(frozen=True)
class Schedule:
    send_at: datetime | None
    end_at: datetime | None


@dataclass(frozen=True)
class CampaignSpec:
    """A validated create request."""

    name: str | None
    caller_id: str
    from_numbers: tuple[str, ...]
    lists: tuple[str, ...]
    schedule: Schedule
    throttle: int
    mode: str
    custom_field: str


@dataclass(frozen=True)
class Update:
    """A validated PUT: detail changes (all None when absent) and/or an action."""

    action: Action | None
    name: str | None = None
    custom_field: str | None = None
    schedule: Schedule | None = None
    throttle: int | None = None

    @property
    def changes_details(self) -> bool:
        return any(v is not None for v in (self.name, self.custom_field, self.throttle))


def unwrap(body: object, *, strict: bool) -> dict[str, Any]:
    """The single campaign object inside a wrapped body, or the flat body itself."""
    if not isinstance(body, dict):
        raise Refusal(400, "request body must be a JSON object")
    if "campaigns" not in body:
        if strict:
            raise Refusal(400, 'invalid body: expected {"campaigns": [{...}]}')
        return body
    items = body["campaigns"]
    if not isinstance(items, list) or len(items) != 1 or not isinstance(items[0], dict):
        raise Refusal(400, '"campaigns" must be a list holding exactly one object')
    item: dict[str, Any] = items[0]
    return item


def parse_create(item: dict[str, Any]) -> CampaignSpec:
    caller_id = item.get("caller_id")
    if not isinstance(caller_id, str) or not caller_id:
        raise Refusal(400, "caller_id is mandatory")
    if item.get("type", "trans") != "trans":
        raise Refusal(400, "type must be trans")
    numbers, lists = _parse_targets(item)
    return CampaignSpec(
        name=_parse_name(item.get("name")),
        caller_id=caller_id,
        from_numbers=numbers,
        lists=lists,
        schedule=_parse_schedule(item.get("schedule", {})),
        throttle=_parse_throttle(item.get("throttle", 60)),
        mode=_parse_choice(item.get("mode", "auto"), "mode", ("auto", "custom")),
        custom_field=_parse_text(item.get("custom_field", ""), "custom_field"),
    )


def parse_update(item: dict[str, Any]) -> Update:
    unknown = set(item) - {"action", "name", "custom_field", "schedule", "throttle"} - _CALLBACKS
    if unknown:
        raise Refusal(400, f"cannot update {', '.join(sorted(unknown))}")
    update = Update(
        action=_parse_action(item["action"]) if "action" in item else None,
        name=_parse_name(item["name"]) if "name" in item else None,
        custom_field=_parse_text(item["custom_field"], "custom_field")
        if "custom_field" in item
        else None,
        schedule=_parse_schedule(item["schedule"]) if "schedule" in item else None,
        throttle=_parse_throttle(item["throttle"]) if "throttle" in item else None,
    )
    if update.action is None and not (
        update.changes_details or update.schedule or _CALLBACKS & set(item)
    ):
        raise Refusal(400, "nothing to update: give an action or fields to change")
    return update


def _parse_action(raw: object) -> Action:
    try:
        return Action(raw if isinstance(raw, str) else "")
    except ValueError:
        valid = ", ".join(a.value for a in Action)
        raise Refusal(400, f"unknown action {raw!r}; valid actions: {valid}") from None


def _parse_targets(item: dict[str, Any]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    raw_from, raw_lists = item.get("from"), item.get("lists")
    if (raw_from is None) == (raw_lists is None):
        raise Refusal(400, "either 'from' or 'lists' should be present")
    if raw_lists is not None:
        if not isinstance(raw_lists, list) or not raw_lists or len(raw_lists) > MAX_LISTS:
            raise Refusal(400, f"lists must hold 1 to {MAX_LISTS} list sids")
        return (), tuple(str(sid) for sid in raw_lists)
    numbers = raw_from.split(",") if isinstance(raw_from, str) else raw_from
    if not isinstance(numbers, list) or not numbers or len(numbers) > MAX_NUMBERS:
        raise Refusal(400, f"from must hold 1 to {MAX_NUMBERS} numbers")
    for number in numbers:
        if not isinstance(number, str) or not _NUMBER.match(number.strip()):
            # DOC-S: the first invalid number fails the whole request.
            raise Refusal(400, f"invalid number {number!r} in from")
    return tuple(n.strip() for n in numbers), ()


def _parse_name(raw: object) -> str | None:
    if raw is None:
        return None
    if not isinstance(raw, str) or len(raw) <= 3:
        raise Refusal(400, "name must be a string of more than 3 characters")
    return raw


def _parse_schedule(raw: object) -> Schedule:
    if not isinstance(raw, dict):
        raise Refusal(400, "schedule must be an object with send_at and/or end_at")
    send_at = from_rfc3339(raw["send_at"], "send_at") if "send_at" in raw else None
    end_at = from_rfc3339(raw["end_at"], "end_at") if "end_at" in raw else None
    if send_at is not None and end_at is not None and end_at <= send_at:
        raise Refusal(400, "end_at must be after send_at")
    return Schedule(send_at, end_at)


def _parse_throttle(raw: object) -> int:
    if not isinstance(raw, int) or isinstance(raw, bool) or raw < 1:
        raise Refusal(400, "throttle must be a positive integer (calls per minute)")
    return raw


def _parse_choice(raw: object, field_name: str, choices: tuple[str, ...]) -> str:
    if raw not in choices:
        raise Refusal(400, f"{field_name} must be one of {', '.join(choices)}")
    return str(raw)


def _parse_text(raw: object, field_name: str) -> str:
    if not isinstance(raw, str):
        raise Refusal(400, f"{field_name} must be a string")
    return raw
