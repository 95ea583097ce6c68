"""Rule tests in YAML, for `lifecycle test FILE` (the format: docs/rule-tests.md).

A casebook names a rules file and lists cases: one campaign, what the audit trail
remembers about it, an instant, and what the engine should decide then. It is read as
strictly as rules.yaml (unknown keys are errors, every problem is located as
FILE:LINE:COL, nothing runs unless the whole file is good) and each case is answered by
the pure engine, so a passing case is exactly what `plan --at` would say.

load_casebook(path) -> Casebook          RulesError lists every problem found
run_casebook(book) -> list[CaseResult]   one result per case, in file order
report(results, ruleset) -> str          `ok   NAME` / `FAIL NAME` and, for failures, why
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, tzinfo
from pathlib import Path as FilePath
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, model_validator

from lifecycle import engine
from lifecycle.engine import RuleVerdict
from lifecycle.errors import Problem, RulesError
from lifecycle.instant import format_instant, from_wall, parse_iso
from lifecycle.model import (
    ActionRecord,
    CallCounts,
    Campaign,
    CountSource,
    Decision,
    History,
    Hold,
    Mode,
    Skip,
    SkipKind,
    Status,
)
from lifecycle.rules import Ruleset, load_rules
from lifecycle.rules.document import Document, Duplicate, SyntaxProblem, read_document
from lifecycle.rules.problems import dotted, from_validation, problem_at
from lifecycle.rules.schema import ActionName, ModeName, invalid

_EXAMPLE = "'2026-11-27T19:00:00+05:30' (or wall time '2026-11-27 19:00' in the rules' zone)"


def _stamp(value: object) -> datetime:
    """An instant as written; naive means wall time in the rules' zone, resolved later
    (the zone is only known once the rules file named by the casebook is loaded)."""
    if isinstance(value, datetime):  # YAML reads an unquoted ISO timestamp itself
        return value
    if isinstance(value, date):
        raise invalid(f"a date alone is not an instant: write a time such as {_EXAMPLE}")
    if isinstance(value, str):
        try:
            return parse_iso(value)
        except ValueError:
            pass
    raise invalid(f"expected a time such as {_EXAMPLE}, got {value!r}")


Stamp = Annotated[datetime, BeforeValidator(_stamp)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CampaignSpec(_Strict):
    """Any Campaign field; `status` is read as the API's would be (unknown spellings
    become `unknown`, which no rule ever acts on)."""

    id: str = "c1"
    name: str = ""
    status: str
    type: str = "trans"
    caller_id: str = ""
    custom_field: str = ""
    send_at: Stamp | None = None
    end_at: Stamp | None = None
    date_created: Stamp | None = None
    date_updated: Stamp | None = None
    stats: dict[str, int] = {}
    # A `summary` block's counts (call_completed, call_failed…), as the API may send them
    # beside or inside the campaign object; when given, the failure rate is judged on it.
    summary: dict[str, int] | None = None


class ActionSpec(_Strict):
    rule: str
    step: ActionName
    at: Stamp


class HoldSpec(_Strict):
    until: Stamp
    reason: str = "held in a rule test"


class HistorySpec(_Strict):
    """`status_since`: the daemon saw the campaign enter its status then. `first_seen`: the
    daemon first saw it then, already in its status (a lower bound). At most one."""

    status_since: Stamp | None = None
    first_seen: Stamp | None = None
    actions: list[ActionSpec] = []
    hold: HoldSpec | None = None
    open_intent: bool = False

    @model_validator(mode="after")
    def _one_start(self) -> HistorySpec:
        if self.status_since is not None and self.first_seen is not None:
            raise invalid("give 'status_since' or 'first_seen', not both")
        return self


class ExpectSpec(_Strict):
    """`none`, `{action: A, rule?, steps?, mode?}` or `{skipped: "reason text", rule?}`."""

    none: bool = False
    action: ActionName | None = None
    rule: str | None = None
    steps: list[ActionName] | None = None
    mode: ModeName | None = None
    skipped: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _from_word(cls, value: object) -> object:
        if isinstance(value, str) and value.strip().lower() == "none":
            return {"none": True}
        if not isinstance(value, dict):
            raise invalid(f"expected 'none', {{action: ...}} or {{skipped: ...}}, got {value!r}")
        return value

    @model_validator(mode="after")
    def _one_kind(self) -> ExpectSpec:
        kinds = [self.none, self.action is not None, self.skipped is not None]
        if sum(kinds) != 1:
            raise invalid("give exactly one of 'none', 'action: ACTION' or 'skipped: TEXT'")
        if (self.steps is not None or self.mode is not None) and self.action is None:
            raise invalid("'steps' and 'mode' go with 'action'")
        if self.none and self.rule is not None:
            raise invalid("'rule' goes with 'action' or 'skipped'")
        return self


class CaseSpec(_Strict):
    name: str
    at: Stamp
    campaign: CampaignSpec
    history: HistorySpec = HistorySpec()
    expect: ExpectSpec


class CasebookSpec(_Strict):
    rules: str = "rules.yaml"
    cases: list[CaseSpec] = Field(min_length=1)


@dataclass(frozen=True)
class Case:
    name: str
    at: datetime
    campaign: Campaign
    history: History
    expect: ExpectSpec


@dataclass(frozen=True)
class Casebook:
    source: str
    ruleset: Ruleset
    cases: tuple[Case, ...]


def load_casebook(path: str | FilePath) -> Casebook:
    """Read a casebook and the rules it names; RulesError lists every problem."""
    name, file = str(path), FilePath(path)
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise RulesError([Problem(name, 1, 1, f"cannot read rule tests: {err}")]) from err
    doc = _document(text, name)
    spec = _validate(doc, name)
    rules_path = file.parent / spec.rules
    if not rules_path.is_file():
        message = f"no rules file {str(rules_path)!r} (a path relative to this file)"
        raise RulesError([problem_at(doc, ("rules",), message, file=name)])
    ruleset = load_rules(rules_path)
    problems = list(_references(spec, doc, ruleset, name))
    if problems:
        raise RulesError(problems)
    cases = tuple(_case(c, ruleset.timezone) for c in spec.cases)
    return Casebook(name, ruleset, cases)


def _document(text: str, name: str) -> Document:
    try:
        doc = read_document(text)
    except SyntaxProblem as err:
        raise RulesError([Problem(name, err.mark.line, err.mark.column, err.message)]) from err
    duplicates = [
        Problem(name, d.key.line, d.key.column, f"{dotted(d.path)}: {_duplicate(d)}")
        for d in doc.duplicates
    ]
    if duplicates:
        raise RulesError(duplicates)
    return doc


def _duplicate(dup: Duplicate) -> str:
    return f"duplicate key '{dup.path[-1]}' (first on line {dup.first_line})"


def _validate(doc: Document, name: str) -> CasebookSpec:
    if not isinstance(doc.data, dict):
        message = "expected a mapping with keys 'rules' and 'cases'"
        raise RulesError([problem_at(doc, (), message, file=name)])
    try:
        return CasebookSpec.model_validate(doc.data)
    except ValidationError as err:
        problems = from_validation(err.errors(), doc, root=CasebookSpec, file=name)
        raise RulesError(sorted(problems, key=lambda p: (p.line, p.column))) from err


def _references(
    spec: CasebookSpec, doc: Document, ruleset: Ruleset, name: str
) -> Iterator[Problem]:
    """Names that must mean something: expected rules, and each case name once.

    Rules named in `history.actions` are not checked: the audit trail may remember a
    rule that has since been renamed, and a case may say so on purpose."""
    known = ", ".join(r.name for r in ruleset.rules)
    seen: set[str] = set()
    for i, case in enumerate(spec.cases):
        rule = case.expect.rule
        if rule is not None and ruleset.rule(rule) is None:
            message = f"unknown rule '{rule}' (known: {known})"
            yield problem_at(doc, ("cases", i, "expect", "rule"), message, file=name)
        if case.name in seen:
            yield problem_at(doc, ("cases", i, "name"), "duplicate case name", file=name)
        seen.add(case.name)


def _aware(value: datetime, tz: tzinfo) -> datetime:
    return value if value.tzinfo is not None else from_wall(value, tz)


def _maybe(value: datetime | None, tz: tzinfo) -> datetime | None:
    return None if value is None else _aware(value, tz)


def _campaign(spec: CampaignSpec, tz: tzinfo, *, case: str) -> Campaign:
    return Campaign(
        id=spec.id,
        name=spec.name or case,
        status=Status.from_api(spec.status),
        raw_status=spec.status,
        type=spec.type,
        caller_id=spec.caller_id,
        custom_field=spec.custom_field,
        send_at=_maybe(spec.send_at, tz),
        end_at=_maybe(spec.end_at, tz),
        date_created=_maybe(spec.date_created, tz),
        date_updated=_maybe(spec.date_updated, tz),
        stats=dict(spec.stats),
        summary=None
        if spec.summary is None
        else CallCounts.from_summary(spec.summary, CountSource.SUMMARY_ITEM),
    )


def _history(spec: HistorySpec, campaign_id: str, tz: tzinfo, at: datetime) -> History:
    done = tuple(ActionRecord(campaign_id, a.rule, a.step, _aware(a.at, tz)) for a in spec.actions)
    hold = spec.hold
    start = spec.status_since or spec.first_seen
    return History(
        status_since={campaign_id: _aware(start, tz)} if start else {},
        first_seen_in_status=frozenset({campaign_id}) if spec.first_seen else frozenset(),
        actions={campaign_id: done} if done else {},
        open_intents=frozenset({campaign_id}) if spec.open_intent else frozenset(),
        holds={campaign_id: Hold(campaign_id, _aware(hold.until, tz), hold.reason, at)}
        if hold
        else {},
    )


def _case(spec: CaseSpec, tz: tzinfo) -> Case:
    at = _aware(spec.at, tz)
    campaign = _campaign(spec.campaign, tz, case=spec.name)
    return Case(spec.name, at, campaign, _history(spec.history, campaign.id, tz, at), spec.expect)


@dataclass(frozen=True)
class CaseResult:
    """What the engine decided for one case, and whether that is what the case expects."""

    case: Case
    decision: Decision | None
    skip: Skip | None
    verdicts: tuple[RuleVerdict, ...]

    @property
    def passed(self) -> bool:
        return is_expected(self.case.expect, self.decision, self.skip)


def run_case(case: Case, ruleset: Ruleset) -> CaseResult:
    plan = engine.plan([case.campaign], ruleset, case.history, case.at)
    decision = plan.decisions[0] if plan.decisions else None
    skip = next((s for s in plan.skipped if s.kind == SkipKind.SKIPPED), None)
    verdicts = engine.explain(case.campaign, ruleset, case.history, case.at)
    return CaseResult(case, decision, skip, tuple(verdicts))


def run_casebook(book: Casebook) -> list[CaseResult]:
    return [run_case(case, book.ruleset) for case in book.cases]


def is_expected(expect: ExpectSpec, decision: Decision | None, skip: Skip | None) -> bool:
    """`none` means neither an action nor a skip; a skip matches by reason substring."""
    if expect.none:
        return decision is None and skip is None
    if expect.skipped is not None:
        return (
            decision is None
            and skip is not None
            and expect.skipped in skip.reason
            and expect.rule in (None, skip.rule)
        )
    if decision is None:
        return False
    wanted: tuple[tuple[object, object], ...] = (
        (expect.action, decision.action),
        (expect.rule, decision.rule),
        (None if expect.steps is None else tuple(expect.steps), decision.steps),
        (expect.mode, decision.mode),
    )
    return all(want is None or want == got for want, got in wanted)


def report(results: list[CaseResult], ruleset: Ruleset) -> str:
    """One line per case, the details of each failure, and a count with the rules' identity
    (the hash `check`, `plan` and the audit trail show for the same file)."""
    tz = ruleset.timezone
    lines: list[str] = []
    for result in results:
        lines.append(f"{'ok  ' if result.passed else 'FAIL'} {result.case.name}")
        if not result.passed:
            lines += [f"     {line}" for line in _failure(result, tz)]
    failed = sum(not r.passed for r in results)
    counts = f"{len(results)} cases: {len(results) - failed} passed, {failed} failed"
    lines.append(f"{counts} ({ruleset.source}, {ruleset.hash})")
    return "\n".join(lines)


def _show(instant: datetime, tz: tzinfo) -> str:
    return f"{format_instant(instant, tz)} ({instant.astimezone(tz):%a})"


def _failure(result: CaseResult, tz: tzinfo) -> list[str]:
    case = result.case
    lines = [
        f"at        {_show(case.at, tz)}",
        f"campaign  {_campaign_text(case.campaign, tz)}",
        f"history   {_history_text(case, tz)}",
        f"expected  {_expected_text(case.expect)}",
        f"decided   {_decided_text(result.decision, result.skip)}",
        "rules:",
    ]
    return lines + [f"  {mark} {v.rule}: {v.reason}" for mark, v in _marked(result.verdicts)]


def _marked(verdicts: tuple[RuleVerdict, ...]) -> Iterator[tuple[str, RuleVerdict]]:
    """`→` the first match (it wins), `~` later matches (shadowed), `✗` the rest."""
    won = False
    for verdict in verdicts:
        yield ("~" if won else "→") if verdict.matched else "✗", verdict
        won = won or verdict.matched


def _campaign_text(campaign: Campaign, tz: tzinfo) -> str:
    status = campaign.status.value
    if campaign.status == Status.UNKNOWN:
        status += f" (written {campaign.raw_status!r})"
    parts = [f"{campaign.id} {status}"]
    for field in ("send_at", "end_at", "date_created", "date_updated"):
        value: datetime | None = getattr(campaign, field)
        if value is not None:
            parts.append(f"{field} {format_instant(value, tz)}")
    if campaign.stats:
        parts.append("stats " + " ".join(f"{k}={v}" for k, v in campaign.stats.items()))
    if campaign.summary is not None:
        summary = campaign.summary.values.items()
        parts.append("summary " + " ".join(f"{k}={v}" for k, v in summary))
    return "; ".join(parts)


def _history_text(case: Case, tz: tzinfo) -> str:
    history, cid = case.history, case.campaign.id
    parts: list[str] = []
    if cid in history.first_seen_in_status:
        parts.append(f"first seen in status {_show(history.status_since[cid], tz)}")
    elif cid in history.status_since:
        parts.append(f"in status since {_show(history.status_since[cid], tz)}")
    for a in history.actions.get(cid, ()):
        parts.append(f"{a.step} by {a.rule} at {_show(a.at, tz)}")
    if cid in history.holds:
        hold = history.holds[cid]
        parts.append(f"held until {_show(hold.until, tz)}: {hold.reason}")
    if cid in history.open_intents:
        parts.append("an intent is open")
    return "; ".join(parts) or "nothing recorded"


def _expected_text(expect: ExpectSpec) -> str:
    by = f" by {expect.rule}" if expect.rule else ""
    if expect.none:
        return "nothing"
    if expect.skipped is not None:
        return f"a skip{by} whose reason contains {expect.skipped!r}"
    text = f"{expect.action}{by}"
    if expect.steps is not None:
        text += f", steps {' → '.join(expect.steps) or '(none)'}"
    return text + (f", {expect.mode}" if expect.mode else "")


def _decided_text(decision: Decision | None, skip: Skip | None) -> str:
    if decision is not None:
        steps = " → ".join(decision.steps)
        mode = ", dry-run" if decision.mode == Mode.DRY_RUN else ""
        return f"{decision.action} by {decision.rule}, steps {steps}{mode}: {decision.reason}"
    if skip is not None:
        return f"skipped {skip.action} by {skip.rule}: {skip.reason}"
    return "nothing"
