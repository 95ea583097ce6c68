"""The shape of rules.yaml, as pydantic models that reject anything unexpected.

These models only say what a well-formed file looks like; `ruleset` compiles them into
the values the engine evaluates. Messages raised here are read by ops people, so each one
says what was expected and what was found.
"""

from __future__ import annotations

import re
from datetime import timedelta
from enum import StrEnum
from typing import Annotated, Any, TypeVar
from zoneinfo import ZoneInfo

import re2
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainValidator,
    StrictBool,
    model_validator,
)
from pydantic_core import PydanticCustomError

from lifecycle.instant import parse_duration
from lifecycle.model import Action, Mode, Status
from lifecycle.rules.calendar import CalendarSpec, parse_zone
from lifecycle.rules.conditions import TextPattern

RULE_NAME = re.compile(r"^[a-z0-9][a-z0-9\-_]*$")
_E = TypeVar("_E", bound=StrEnum)
KNOWN_STATUSES = tuple(s for s in Status if s != Status.UNKNOWN)
MAX_REGEX = 1000
MAX_RULES = 1000  # first match wins: past a few dozen rules nobody can read the order
# Each calendar costs `check` a search of up to a year; an agency's accounts need dozens.
MAX_CALENDARS = 200


class ManualChange(StrEnum):
    """What a rule does when someone else undid its last action."""

    RESPECT = "respect"
    ENFORCE = "enforce"


def invalid(message: str, *, item: int | None = None) -> PydanticCustomError:
    """A validation error whose text is exactly `message`; `item` narrows the location."""
    context: dict[str, Any] = {"message": message}
    if item is not None:
        context["item"] = item
    return PydanticCustomError("rules", "{message}", context)


def _choice(kind: str, enum: type[_E]) -> BeforeValidator:
    def parse(value: object) -> _E:
        for member in enum:
            if value == member.value:
                return member
        valid = ", ".join(m.value for m in enum)
        raise invalid(f"unknown {kind} {value!r}: expected one of {valid}")

    return BeforeValidator(parse)


def _duration(value: object) -> timedelta:
    if isinstance(value, timedelta):
        return value
    try:
        return parse_duration(value)
    except ValueError as err:
        raise invalid(str(err)) from err


def _zone(value: object) -> ZoneInfo:
    if isinstance(value, ZoneInfo):
        return value
    try:
        return parse_zone(value)
    except ValueError as err:
        raise invalid(str(err)) from err


def _statuses(value: object) -> frozenset[Status]:
    items = value if isinstance(value, list) else [value]
    found: set[Status] = set()
    for i, item in enumerate(items):
        status = Status.from_api(item)
        if status == Status.UNKNOWN:
            expected = ", ".join(KNOWN_STATUSES)
            raise invalid(f"unknown status {item!r} (expected one of {expected})", item=i)
        found.add(status)
    if not found:
        raise invalid("expected at least one status")
    return frozenset(found)


def _strings(value: object) -> tuple[str, ...]:
    items = value if isinstance(value, list) else [value]
    for i, item in enumerate(items):
        if not isinstance(item, str):
            raise invalid(f"expected a string, got {item!r}", item=i)
    if not items:
        raise invalid("expected at least one value")
    return tuple(items)


def _regex(value: object) -> TextPattern:
    """RE2, not `re`: a backtracking engine lets one pattern such as `^(a+)+$` take
    exponential time on one campaign name and freeze the daemon. RE2 runs in linear time
    and refuses what it cannot (backreferences, lookaround) here, at load time."""
    if not isinstance(value, str):
        raise invalid(f"expected a regular expression string, got {value!r}")
    if len(value) > MAX_REGEX:
        raise invalid(f"regular expression longer than {MAX_REGEX} characters")
    options = re2.Options()
    options.log_errors = False  # the error is reported here, located, not on stderr
    try:
        compiled: TextPattern = re2.compile(value, options=options)
    except re2.error as err:
        detail = err.args[0] if err.args else err
        text = detail.decode(errors="replace") if isinstance(detail, bytes) else str(detail)
        raise invalid(
            f"invalid regular expression {value!r}: {text} (RE2 syntax: no backreferences "
            "or lookaround)"
        ) from err
    except RecursionError:  # a parser that recurses once per group: "((((…))))"
        raise invalid("regular expression nested too deeply") from None
    return compiled


def _rule_name(value: object) -> str:
    if not isinstance(value, str) or not RULE_NAME.match(value):
        raise invalid(
            f"rule names use lowercase letters, digits, '-' and '_', starting with a "
            f"letter or digit (got {value!r})"
        )
    return value


Duration = Annotated[timedelta, BeforeValidator(_duration)]
Zone = Annotated[ZoneInfo, BeforeValidator(_zone)]
StatusSet = Annotated[frozenset[Status], BeforeValidator(_statuses)]
Strings = Annotated[tuple[str, ...], BeforeValidator(_strings)]
Regex = Annotated[TextPattern, PlainValidator(_regex)]
RuleName = Annotated[str, BeforeValidator(_rule_name)]
ActionName = Annotated[Action, _choice("action", Action)]
ModeName = Annotated[Mode, _choice("mode", Mode)]
ManualChangeName = Annotated[ManualChange, _choice("on_manual_change", ManualChange)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)


class Defaults(Strict):
    mode: ModeName = Mode.ENFORCE
    on_manual_change: ManualChangeName = ManualChange.RESPECT
    cooldown: Duration | None = None


class FlapGuardSpec(Strict):
    max_reversals: int = Field(default=3, ge=1)
    within: Duration = timedelta(hours=6)


class WhenSpec(Strict):
    inside: str | None = None
    outside: str | None = None

    @model_validator(mode="after")
    def _one_side(self) -> WhenSpec:
        if (self.inside is None) == (self.outside is None):
            raise invalid("give exactly one of 'inside: CALENDAR' or 'outside: CALENDAR'")
        return self

    @property
    def calendar(self) -> str:
        return self.inside if self.inside is not None else str(self.outside)


class InstantSpec(Strict):
    """`passed`, or `{within: 2h}`: the instant lies in the next two hours."""

    passed: bool = False
    within: Duration | None = None

    @model_validator(mode="before")
    @classmethod
    def _from_word(cls, value: object) -> object:
        if value == "passed":
            return {"passed": True}
        if not isinstance(value, dict):
            raise invalid(f"expected 'passed' or {{within: DURATION}}, got {value!r}")
        return value

    @model_validator(mode="after")
    def _one_form(self) -> InstantSpec:
        if self.passed == (self.within is not None):
            raise invalid("expected 'passed' or {within: DURATION}")
        return self


class CustomFieldSpec(Strict):
    equals: str | None = None
    contains: str | None = None

    @model_validator(mode="after")
    def _one_test(self) -> CustomFieldSpec:
        if (self.equals is None) == (self.contains is None):
            raise invalid("give exactly one of 'equals' or 'contains'")
        return self


class FailureRateSpec(Strict):
    above: float = Field(ge=0, le=1)
    min_calls: int = Field(default=0, ge=0)


class CounterSpec(Strict):
    above: int | None = None
    below: int | None = None
    equals: int | None = None

    @model_validator(mode="after")
    def _some_test(self) -> CounterSpec:
        if self.above is None and self.below is None and self.equals is None:
            raise invalid("give at least one of 'above', 'below' or 'equals'")
        return self


class MatchSpec(Strict):
    """Conditions on one campaign; every condition given must hold."""

    status: StatusSet | None = None
    name: Strings | None = None
    name_regex: Regex | None = None
    type: Strings | None = None
    caller_id: Strings | None = None
    custom_field: CustomFieldSpec | None = None
    send_at: InstantSpec | None = None
    end_at: InstantSpec | None = None
    age: Duration | None = None
    in_status_for: Duration | None = None
    paused_by: str | None = None
    failure_rate: FailureRateSpec | None = None
    counters: dict[str, CounterSpec] | None = None
    all: list[MatchSpec] | None = None
    any: list[MatchSpec] | None = None
    not_: MatchSpec | None = Field(default=None, alias="not")

    def is_empty(self) -> bool:
        return not self.model_fields_set


class RuleSpec(Strict):
    name: RuleName
    description: str | None = None
    when: WhenSpec | None = None
    match: MatchSpec = MatchSpec()
    action: ActionName
    mode: ModeName | None = None
    on_manual_change: ManualChangeName | None = None
    cooldown: Duration | None = None
    max_actions_per_tick: int | None = Field(default=None, ge=1)


class RulesFile(Strict):
    timezone: Zone
    calendars: dict[str, CalendarSpec] = Field(default={}, max_length=MAX_CALENDARS)
    defaults: Defaults = Defaults()
    max_actions_per_tick: int | None = Field(default=None, ge=1)
    flap_guard: FlapGuardSpec | None = None
    # Opt-in: date_updated may not move when the status does (docs/exotel-api.md).
    trust_date_updated: StrictBool = False
    rules: list[RuleSpec] = Field(min_length=1, max_length=MAX_RULES)
