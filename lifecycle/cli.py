"""The `lifecycle` command line (DESIGN.md §4). Thin: parse, call, print, choose the exit code."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import sys
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime, timedelta, tzinfo
from functools import wraps
from pathlib import Path
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar
from zoneinfo import ZoneInfo

import click

from lifecycle import __doc__ as package_doc
from lifecycle.clock import SystemClock
from lifecycle.errors import ConfigError, LifecycleError, RulesError, SchemaOutdated
from lifecycle.instant import format_duration, format_instant, parse_when

if TYPE_CHECKING:
    from lifecycle.accounts import Account
    from lifecycle.console import Period
    from lifecycle.rules import CheckReport, Overrides, Ruleset
    from lifecycle.settings import Settings

P = ParamSpec("P")
T = TypeVar("T")
# A timeline steps through every minute a rule could act in; a year takes seconds,
# a century took minutes.
MAX_TIMELINE = timedelta(days=366)

log = logging.getLogger("lifecycle")

RULES_OPTION = click.option(
    "--rules",
    "rules_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Rules file (default: $LIFECYCLE_RULES or rules.yaml).",
)
ACCOUNT_OPTION = click.option(
    "--account",
    "account_sid",
    metavar="SID",
    default=None,
    help="The Exotel account (required when LIFECYCLE_ACCOUNTS lists several).",
)


class ZonedLogFormatter(logging.Formatter):
    """Text log lines stamped in the rules' zone with the offset, as `why` and `audit` show
    instants: `journalctl` beside `why` reads one clock. (UTC until the rules are read.)"""

    def __init__(self, fmt: str, tz: tzinfo) -> None:
        super().__init__(fmt)
        self.tz = tz

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return datetime.fromtimestamp(record.created, self.tz).isoformat(timespec="milliseconds")


class JsonLogFormatter(ZonedLogFormatter):
    """One JSON object per line, for log shippers (LIFECYCLE_LOG_FORMAT=json)."""

    def __init__(self, tz: tzinfo) -> None:
        super().__init__("%(message)s", tz)

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "at": self.formatTime(record),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry)


def _configure_logging(level: str, fmt: str = "text", tz: tzinfo = UTC) -> None:
    from lifecycle.systemd import JournalFormatter, is_journal

    handler = logging.StreamHandler(sys.stderr)
    formatter: logging.Formatter = (
        JsonLogFormatter(tz)
        if fmt == "json"
        else ZonedLogFormatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s", tz)
    )
    # Under systemd each line carries its priority, so `journalctl -p warning` finds
    # failures (journald strips the prefix: a JSON line stays plain JSON there).
    if is_journal(sys.stderr):
        formatter = JournalFormatter(formatter)
    handler.setFormatter(formatter)
    level_number = getattr(logging, level.upper(), logging.INFO)
    logging.basicConfig(level=level_number, handlers=[handler], force=True)
    # Third-party loggers are chatty at INFO; ours carry what operators need.
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)


def _fail(message: str, code: int) -> None:
    click.echo(f"lifecycle: {message}", err=True)
    sys.exit(code)


def handles_errors(func: Callable[P, T]) -> Callable[P, T]:
    """Turn our errors into one clear line on stderr and the documented exit code."""

    @wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return func(*args, **kwargs)
        except RulesError as exc:
            for problem in exc.problems:
                click.echo(str(problem), err=True)
            sys.exit(2)
        except (ConfigError, SchemaOutdated) as exc:
            _fail(str(exc), 2)
        except LifecycleError as exc:
            _fail(str(exc), 1)
        raise AssertionError("unreachable")

    return wrapper


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    import asyncio

    return asyncio.run(coro)


def _settings(rules_path: Path | None = None, **overrides: object) -> Settings:
    from lifecycle.settings import load_settings

    if rules_path is not None:
        overrides["LIFECYCLE_RULES"] = rules_path
    settings = load_settings(**overrides)
    _configure_logging(settings.log_level, settings.log_format)
    return settings


def _account(rules_path: Path | None, sid: str | None) -> Account:
    """The account a command works on (`--account`, or the only one configured), with
    `--rules` in place of its rules file when given."""
    from lifecycle.accounts import choose_account, configured_accounts

    account = choose_account(configured_accounts(_settings()), sid)
    if rules_path is None:
        return account
    return dataclasses.replace(
        account, settings=account.settings.model_copy(update={"rules": rules_path})
    )


def _ruleset(account: Account) -> Ruleset:
    """The account's rules, with its overrides; RulesError (exit 2, located) otherwise."""
    from lifecycle.rules import load_rules

    return load_rules(account.settings.rules, account.overrides)


def _rules_zone(account: Account) -> ZoneInfo:
    """The rules' zone, in which a WHEN typed on the command line is read and every instant
    shown is written, log stamps included (from here on). Rules that cannot be read are an
    error with FILE:LINE:COL, never a silent switch to UTC."""
    settings = account.settings
    try:
        tz = _ruleset(account).timezone
    except RulesError:
        click.echo(
            f"lifecycle: times are read and shown in the zone of the rules, and {settings.rules} "
            "cannot be read (fix it, or name a good file with --rules):",
            err=True,
        )
        raise
    _zone_logs(settings, tz)
    return tz


def _zone_logs(settings: Settings, tz: tzinfo) -> None:
    _configure_logging(settings.log_level, settings.log_format, tz)


def _when(value: str | None, ruleset_tz: ZoneInfo) -> datetime:
    now = SystemClock().now()
    if value is None:
        return now
    try:
        return parse_when(value, now=now, tz=ruleset_tz)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="WHEN") from None


@click.group(help=package_doc)
@click.version_option(package_name="lifecycle")
def main() -> None:
    pass


@main.command()
@RULES_OPTION
@click.option("--once", is_flag=True, help="Run one tick and exit (0 if it succeeded).")
@click.option("--dry-run", is_flag=True, help="Decide and record, but send no action.")
@handles_errors
def run(rules_path: Path | None, once: bool, dry_run: bool) -> None:
    """Run the daemon (or one tick with --once)."""
    from lifecycle.accounts import configured_accounts
    from lifecycle.daemon import DaemonOptions, run_daemon
    from lifecycle.rules import load_rules

    settings = _settings(rules_path)
    if settings.accounts is None:
        _zone_logs(settings, load_rules(settings.rules).timezone)  # bad rules: exit 2, located
        settings.require_credentials()
    else:  # every account's credentials found and rules valid, or exit 2 naming what is not
        zones = [_ruleset(account).timezone for account in configured_accounts(settings)]
        _zone_logs(settings, zones[0])
    code = run_async(run_daemon(settings, DaemonOptions(once=once, dry_run=dry_run)))
    sys.exit(code)


@main.command()
@RULES_OPTION
@click.option("--at", "at_text", metavar="WHEN", help="Evaluate as of WHEN (default: now).")
@click.option("--from", "from_text", metavar="WHEN", help="Timeline of every decision from WHEN.")
@click.option("--to", "to_text", metavar="WHEN", help="… to WHEN (with --from).")
@click.option(
    "--campaign", "campaign_ids", metavar="ID", multiple=True, help="Only this campaign (repeat)."
)
@click.option(
    "--campaigns",
    "snapshot",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A saved list answer of the Campaigns API instead of the live list (no credentials).",
)
@click.option(
    "--end-at",
    type=click.Choice(["completed", "paused"]),
    default="completed",
    show_default=True,
    help="Timeline: what Exotel does to a running campaign at its end_at (the docs disagree).",
)
@click.option("--json", "as_json", is_flag=True, help="One JSON object on stdout.")
@ACCOUNT_OPTION
@handles_errors
def plan(
    rules_path: Path | None,
    at_text: str | None,
    from_text: str | None,
    to_text: str | None,
    campaign_ids: tuple[str, ...],
    snapshot: Path | None,
    end_at: str,
    as_json: bool,
    account_sid: str | None,
) -> None:
    """Show what a tick at WHEN would do, or every decision from --from to --to.

    Read-only: sends no action, writes nothing. A timeline assumes each planned action
    succeeds and Exotel moves campaigns at send_at and end_at (docs/timeline.md).
    """
    from lifecycle import output
    from lifecycle.console import plan_at, timeline_over

    _check_period_options(at_text, from_text, to_text)
    account = _account(rules_path, account_sid)
    settings = account.settings
    ruleset = _ruleset(account)
    tz = ruleset.timezone
    _zone_logs(settings, tz)
    if from_text is None or to_text is None:
        at = _when(at_text, tz)
        found = run_async(
            plan_at(settings, ruleset, at, snapshot=snapshot, campaign_ids=campaign_ids)
        )
        shown = output.plan_to_json(found, tz) if as_json else output.plan_to_text(found, tz)
    else:
        period = _period(from_text, to_text, tz, campaign_ids, end_at)
        span = run_async(timeline_over(settings, ruleset, period, snapshot=snapshot))
        shown = output.timeline_to_json(span, tz) if as_json else output.timeline_to_text(span, tz)
    click.echo(json.dumps(shown) if as_json else shown)


def _period(
    from_text: str, to_text: str, tz: ZoneInfo, campaign_ids: tuple[str, ...], end_at: str
) -> Period:
    from lifecycle.console import Period
    from lifecycle.engine import ExotelMoves

    start, end = _when(from_text, tz), _when(to_text, tz)
    if end < start:
        raise click.BadParameter("--to is before --from", param_hint="--to")
    if end - start > MAX_TIMELINE:
        raise click.BadParameter(
            f"--from to --to is {format_duration(end - start)}; a timeline covers at most "
            f"{MAX_TIMELINE.days} days (plan it in parts)",
            param_hint="--to",
        )
    moves = ExotelMoves(end_at="paused" if end_at == "paused" else "completed")
    return Period(start, end, campaign_ids, moves)


def _check_period_options(at_text: str | None, from_text: str | None, to_text: str | None) -> None:
    if (from_text is None) != (to_text is None):
        raise click.UsageError("--from and --to go together: give both, or neither")
    if at_text is not None and from_text is not None:
        raise click.UsageError("--at is one instant; --from/--to a period: give one or the other")


@main.command()
@click.argument(
    "path", type=click.Path(dir_okay=False, path_type=Path), default=None, required=False
)
@click.option("--strict", is_flag=True, help="Treat warnings as errors (exit 1).")
@click.option(
    "--accounts",
    "accounts_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Check this accounts file, and the rules file of each account (with its overrides).",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "github", "json"]),
    default="text",
    show_default=True,
    help="text: FILE:LINE:COL lines on stderr; github: workflow annotations on stdout; "
    "json: one object on stdout (with --accounts, one line per rules file checked). The "
    "exit code is the same for all three.",
)
@handles_errors
def check(path: Path | None, strict: bool, accounts_path: Path | None, fmt: str) -> None:
    """Validate a rules file: exit 0, or 2 with FILE:LINE:COL: messages on stderr."""
    from lifecycle.rules import NO_OVERRIDES

    # Only LIFECYCLE_RULES matters here: a bad unrelated setting must not stop a check.
    path = path or Path(os.environ.get("LIFECYCLE_RULES") or "rules.yaml")
    if accounts_path is None:
        sys.exit(_check_rules(path, NO_OVERRIDES, strict=strict, fmt=fmt))
    sys.exit(_check_accounts(accounts_path, default_rules=path, strict=strict, fmt=fmt))


def _check_accounts(path: Path, *, default_rules: Path, strict: bool, fmt: str) -> int:
    """The accounts file, then each account's rules as that account reads them (a shared
    file once per distinct overrides). Credentials are not read: `check` runs anywhere.
    The account lines are text's only: github and json carry the rules' results alone."""
    from lifecycle.accounts import read_accounts
    from lifecycle.rules import Overrides

    text = fmt == "text"
    specs = read_accounts(path)  # RulesError: exit 2, located
    if text:
        click.echo(f"{path}: ok ({len(specs)} accounts: {', '.join(s.sid for s in specs)})")
    seen: set[tuple[Path, str | None, str | None]] = set()
    worst = 0
    for spec in specs:
        rules = path.parent / spec.rules if spec.rules else default_rules
        overrides = Overrides(ZoneInfo(spec.timezone) if spec.timezone else None, spec.holidays)
        same = (rules, spec.timezone, spec.holidays.model_dump_json() if spec.holidays else None)
        if same in seen:
            continue
        seen.add(same)
        if text:
            click.echo(f"account {spec.sid}:", nl=False)
        code = _check_rules(rules, overrides, strict=strict, fmt=fmt, prefix=" " if text else "")
        worst = max(worst, code)
    return worst


def _check_rules(
    path: Path, overrides: Overrides, *, strict: bool, fmt: str = "text", prefix: str = ""
) -> int:
    """One rules file, as the daemon (with `overrides`) reads it: the exit code. `prefix`:
    the line goes on after "account SID:" (text, with --accounts)."""
    from lifecycle.rules import CheckReport, check_source, read_rules

    try:
        source = read_rules(path)  # as the daemon reads it: the same bytes, the same sha256
    except RulesError as exc:  # unreadable, too large, not UTF-8: said in the same format
        if prefix:
            click.echo(f"{prefix}{path}: not valid")
        _print_check(fmt, str(path), CheckReport(None, exc.problems, []))
        return 2
    report = check_source(source, at=SystemClock().now(), overrides=overrides)
    code = 2 if report.errors else (1 if strict and report.warnings else 0)
    if prefix and code:
        click.echo(f"{prefix}{path}: not valid")
    _print_check(fmt, str(path), report, ok=code == 0, prefix=prefix)
    return code


def _print_check(
    fmt: str, path: str, report: CheckReport, *, ok: bool = False, prefix: str = ""
) -> None:
    """The problems, then (when the file passes) the summary line, in format `fmt`."""
    from lifecycle.rules.formats import check_to_json, to_github

    problems = report.errors + report.warnings
    if fmt == "json":
        click.echo(json.dumps(check_to_json(path, report, ok=ok)))
        return
    if fmt == "github":
        for problem in problems:
            click.echo(to_github(problem))
    else:
        for problem in problems:
            warned = "" if problem.severity == "error" else " (warning)"
            click.echo(f"{problem}{warned}", err=True)
    ruleset = report.ruleset
    if ok and ruleset is not None:
        click.echo(
            f"{prefix}{path}: ok ({len(ruleset.rules)} rules, {len(ruleset.calendars)} "
            f"calendars, {len(report.warnings)} warnings, {ruleset.hash})"
        )


@main.command()
def schema() -> None:
    """Print the JSON Schema of the rules file, for editors (YAML language servers)."""
    from lifecycle.rules.jsonschema import rules_json_schema

    click.echo(json.dumps(rules_json_schema(), indent=2))


@main.command("test")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@handles_errors
def rule_tests(path: Path) -> None:
    """Run rule tests (docs/rule-tests.md): exit 0 all pass, 1 a case failed, 2 bad file."""
    from lifecycle.casebook import load_casebook, report, run_casebook

    book = load_casebook(path)
    results = run_casebook(book)
    click.echo(report(results, book.ruleset))
    sys.exit(0 if all(result.passed for result in results) else 1)


@main.command()
@RULES_OPTION
@click.option("--campaign", "campaign_id", help="Only this campaign.")
@click.option("--rule", help="Only this rule.")
@click.option("--since", "since_text", metavar="WHEN", help="Only rows at or after WHEN.")
@click.option("--limit", type=click.IntRange(1, 100_000), default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@ACCOUNT_OPTION
@handles_errors
def audit(
    account_sid: str | None,
    rules_path: Path | None,
    campaign_id: str | None,
    rule: str | None,
    since_text: str | None,
    limit: int,
    as_json: bool,
) -> None:
    """The audit trail, newest first; times in the rules' zone."""
    from lifecycle import output
    from lifecycle.console import missing_database, read_audit

    account = _account(rules_path, account_sid)
    settings = account.settings
    tz = _rules_zone(account)
    since = _when(since_text, tz) if since_text else None
    if missing := missing_database(settings):
        click.echo(f"lifecycle: {missing}", err=True)
        return
    rows = run_async(
        read_audit(settings, campaign_id=campaign_id, rule=rule, since=since, limit=limit)
    )
    for row in rows:
        click.echo(
            json.dumps(output.audit_to_json(row, tz)) if as_json else output.audit_line(row, tz)
        )


@main.command()
@click.argument("campaign_id")
@RULES_OPTION
@click.option("--at", "at_text", metavar="WHEN", help="Explain as of WHEN (default: now).")
@ACCOUNT_OPTION
@handles_errors
def why(
    campaign_id: str, rules_path: Path | None, at_text: str | None, account_sid: str | None
) -> None:
    """Why a campaign was (or was not) acted on: rules, decisions, audit, holds."""
    from lifecycle.console import explain_campaign

    account = _account(rules_path, account_sid)
    settings = account.settings
    ruleset = _ruleset(account)
    _zone_logs(settings, ruleset.timezone)
    at = _when(at_text, ruleset.timezone)
    click.echo(run_async(explain_campaign(settings, ruleset, campaign_id, at)))


@main.command()
@click.argument("campaign_id")
@RULES_OPTION
@click.option("--until", "until_text", metavar="WHEN", required=True)
@click.option("--reason", required=True, help="Shown in `why` and the audit trail.")
@ACCOUNT_OPTION
@handles_errors
def hold(
    campaign_id: str,
    rules_path: Path | None,
    until_text: str,
    reason: str,
    account_sid: str | None,
) -> None:
    """Keep every rule's hands off a campaign until WHEN (read in the rules' zone)."""
    from lifecycle.console import with_store

    account = _account(rules_path, account_sid)
    settings = account.settings
    tz = _rules_zone(account)
    until = _when(until_text, tz)
    now = SystemClock().now()
    run_async(
        with_store(
            settings,
            lambda s: s.add_hold(campaign_id=campaign_id, until=until, reason=reason, at=now),
        )
    )
    click.echo(f"held {campaign_id} until {format_instant(until, tz)}: {reason}")


@main.command()
@click.argument("campaign_id")
@ACCOUNT_OPTION
@handles_errors
def release(campaign_id: str, account_sid: str | None) -> None:
    """Remove the hold on a campaign."""
    from lifecycle.console import with_store

    settings = _account(None, account_sid).settings
    now = SystemClock().now()
    released = run_async(with_store(settings, lambda s: s.release_hold(campaign_id, at=now)))
    click.echo(f"released {campaign_id}" if released else f"{campaign_id} had no hold")


@main.command()
@RULES_OPTION
@ACCOUNT_OPTION
@handles_errors
def holds(rules_path: Path | None, account_sid: str | None) -> None:
    """List the holds in force; times in the rules' zone."""
    from lifecycle import output
    from lifecycle.console import with_store

    account = _account(rules_path, account_sid)
    settings = account.settings
    tz = _rules_zone(account)
    now = SystemClock().now()
    for item in run_async(with_store(settings, lambda s: s.holds(at=now))):
        click.echo(output.hold_line(item, tz))


@main.command()
@RULES_OPTION
@ACCOUNT_OPTION
@click.option("--json", "as_json", is_flag=True, help="One JSON object on stdout.")
@handles_errors
def status(rules_path: Path | None, account_sid: str | None, as_json: bool) -> None:
    """What the status page's header shows: exit 0 healthy, 1 not, 2 cannot tell.

    Reads the database (the last tick any leader recorded, the lease, campaigns, intents,
    holds), the rules file, and the daemon's /readyz on LIFECYCLE_HTTP when it answers
    within a second. Sends no request to Exotel.
    """
    from lifecycle.console import read_status
    from lifecycle.errors import StoreUnavailable
    from lifecycle.overview import status_to_json, status_to_text

    account = _account(rules_path, account_sid)
    try:
        now = SystemClock().now()
        report, tz = run_async(read_status(account.settings, now=now, overrides=account.overrides))
    except StoreUnavailable as exc:  # cannot tell: exit 2, like no database at all
        _fail(f"database unreachable: {exc}", 2)

    if as_json:
        click.echo(json.dumps(status_to_json(report, tz)))
    else:
        click.echo(status_to_text(report, tz))
    sys.exit(0 if report.healthy else 1)


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=8765, show_default=True)
@click.option(
    "--campaigns", "count", type=click.IntRange(0, 100_000), default=25, show_default=True
)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--status-style", type=click.Choice(["pascal", "lower"]), default="pascal")
@click.option("--end-at", "end_at", type=click.Choice(["completed", "paused"]), default="completed")
@click.option("--rate", type=int, default=30, show_default=True, help="Requests/minute; 0: off.")
@click.option(
    "--counts",
    type=click.Choice(["summary-item", "summary-data", "stats", "stats-no-completed", "none"]),
    default="stats",
    show_default=True,
    help="Where call counts go: a summary beside data or inside it, stats, or nowhere.",
)
@click.option(
    "--account",
    "account_sid",
    metavar="SID",
    default="acme1",
    show_default=True,
    help="The account SID it serves (one per simulator: several make an accounts file's).",
)
@click.option(
    "--status-filter",
    type=click.Choice(["comma", "ignore", "single", "reject"]),
    default="comma",
    show_default=True,
    help="How list reads status=A,B: as a set, not at all, as one status name, or 400.",
)
@click.option(
    "--deleted",
    type=click.Choice(["listed", "gone"]),
    default="listed",
    show_default=True,
    help="A deleted campaign: still listed (status Deleted), or gone (GET answers 404).",
)
def simulator(
    host: str, port: int, count: int, seed: int, status_style: str, end_at: str, rate: int,
    counts: str, account_sid: str, status_filter: str, deleted: str,
) -> None:  # fmt: skip
    """Serve the Exotel Campaigns API simulator."""
    import asyncio

    from lifecycle.simulator import Simulator, SimulatorConfig, serve_forever

    _configure_logging("INFO")
    config = SimulatorConfig(
        account_sid=account_sid,
        status_style=status_style,  # type: ignore[arg-type]
        end_at_behaviour=end_at,  # type: ignore[arg-type]
        rate_per_minute=rate or None,
        counts=counts,  # type: ignore[arg-type]
        status_filter=status_filter,  # type: ignore[arg-type]
        deleted=deleted,  # type: ignore[arg-type]
    )
    sim = Simulator(config, seed=seed)
    sim.seed_campaigns(count)
    try:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(serve_forever(sim, host, port))
    except OSError as exc:
        _fail(f"cannot listen on {host}:{port}: {exc.strerror}", 1)


@main.command()
@click.option("--seconds", type=float, default=None, help="Stop after this many seconds.")
@click.option("--database", type=click.Path(dir_okay=False, path_type=Path), default=None)
@handles_errors
def demo(seconds: float | None, database: Path | None) -> None:
    """Simulator + daemon + SQLite in one process; no credentials, no network."""
    from lifecycle.demo import run_demo

    _configure_logging("WARNING")
    sys.exit(run_async(run_demo(seconds=seconds, database=database, echo=click.echo)))


@main.group()
def db() -> None:
    """Database schema commands."""


@db.command()
@click.option(
    "--account",
    "account_sid",
    metavar="SID",
    default=None,
    help="The account that rows written before accounts belong to "
    "(default: EXOTEL_ACCOUNT_SID, or the only account of LIFECYCLE_ACCOUNTS).",
)
@handles_errors
def upgrade(account_sid: str | None) -> None:
    """Upgrade the database schema to this version (Alembic)."""
    from lifecycle.console import upgrade_database

    settings = _settings()
    if account_sid is None and not settings.exotel_account_sid and settings.accounts:
        from lifecycle.accounts import read_accounts

        listed = read_accounts(settings.accounts)
        account_sid = listed[0].sid if len(listed) == 1 else None
    if account_sid is not None:
        settings = settings.model_copy(update={"exotel_account_sid": account_sid})
    click.echo(run_async(upgrade_database(settings)))
