"""The accounts file (LIFECYCLE_ACCOUNTS): which Exotel accounts one daemon serves.

```yaml
accounts:
  - sid: acme-north
    base_url: https://api.in.exotel.com     # the account's region host
    key_file: /run/credentials/acme-north.key
    token_file: /run/credentials/acme-north.token
    rules: rules-north.yaml                 # relative to this file
    rate_per_minute: 30
    settled_poll: 24h                       # overrides LIFECYCLE_SETTLED_POLL (or: off)
  - sid: acme-south
    key: env:ACME_SOUTH_KEY                 # or an environment variable, by name
    token: env:ACME_SOUTH_TOKEN
    timezone: Asia/Dubai                    # overrides the shared rules' `timezone`
    holidays: {country: AE}                 # replaces `holidays:` of its calendars
```

Credentials are references only: a file path, or `env:NAME`. Anything else in `key` or
`token` is taken for a pasted secret and refused, without repeating it. The file is read
like a rules file (bounded YAML, unknown keys refused, every problem at FILE:LINE:COL).
Without LIFECYCLE_ACCOUNTS the daemon serves the one account of EXOTEL_ACCOUNT_SID and
friends, exactly as before.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from lifecycle.errors import ConfigError, Problem, RulesError
from lifecycle.rules import NO_OVERRIDES, Overrides
from lifecycle.rules.document import Document, SyntaxProblem, read_document
from lifecycle.rules.holiday import HolidaySpec
from lifecycle.rules.problems import from_validation, problem_at
from lifecycle.rules.schema import invalid
from lifecycle.rules.zone import parse_zone
from lifecycle.settings import Settings, parse_settled_poll

MAX_ACCOUNTS_BYTES = 1024 * 1024
_SID = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{0,79}")
_ENV_NAME = re.compile(r"env:([A-Za-z_][A-Za-z0-9_]*)")


def _reference(value: object) -> object:
    """`env:NAME` or nothing: a credential written into the file is refused unrepeated."""
    if value is None or (isinstance(value, str) and _ENV_NAME.fullmatch(value)):
        return value
    raise invalid(
        "must be a reference, `env:NAME` (or use key_file/token_file): the value here "
        "looks like a secret written into the file (not shown); move it to a file or an "
        "environment variable"
    )


class AccountSpec(BaseModel):
    """One entry of `accounts:`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    sid: str
    base_url: str | None = None
    key: str | None = None
    token: str | None = None
    key_file: Path | None = None
    token_file: Path | None = None
    rules: Path | None = None
    timezone: str | None = None
    holidays: HolidaySpec | None = None
    rate_per_minute: float | None = Field(default=None, gt=0)
    # LIFECYCLE_SETTLED_POLL for this account: on one account first, while it is tried.
    settled_poll: str | bool | None = None

    _references = field_validator("key", "token", mode="before")(_reference)

    @field_validator("sid", mode="before")
    @classmethod
    def _plain_sid(cls, value: object) -> object:
        if not isinstance(value, str) or not _SID.fullmatch(value):
            raise invalid("must be an account SID: letters, digits and dashes")
        return value

    @field_validator("settled_poll", mode="before")
    @classmethod
    def _settled_period(cls, value: object) -> object:
        try:
            parse_settled_poll(value)
        except ValueError as error:
            raise invalid(str(error)) from None
        return value

    @field_validator("timezone", mode="before")
    @classmethod
    def _known_zone(cls, value: object) -> object:
        try:
            return value if value is None else parse_zone(value).key
        except ValueError as error:
            raise invalid(str(error)) from None

    @field_validator("base_url", mode="before")
    @classmethod
    def _plain_url(cls, value: object) -> object:
        if value is None:
            return value
        if not isinstance(value, str) or not value.startswith(("https://", "http://")):
            raise invalid("must start with https:// (or http:// for the local simulator)")
        if "@" in value.split("//", 1)[-1].split("/", 1)[0]:
            raise invalid("must not contain credentials (not shown); use key/token references")
        return value.rstrip("/")


class AccountsFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    accounts: list[AccountSpec] = Field(min_length=1)


@dataclass(frozen=True)
class Account:
    """One account as the daemon serves it: `settings` are the process settings with this
    account's SID, credentials, region, rules file and request budget put in."""

    settings: Settings
    overrides: Overrides = NO_OVERRIDES

    @property
    def sid(self) -> str:
        return self.settings.exotel_account_sid


def read_accounts(path: Path) -> list[AccountSpec]:
    """The accounts file's entries; RulesError with every problem at FILE:LINE:COL."""
    name = str(path)
    try:
        with path.open("rb") as file:
            data = file.read(MAX_ACCOUNTS_BYTES + 1)
    except OSError as err:
        message = f"cannot read accounts file: {err.strerror}"
        raise RulesError([Problem(name, 1, 1, message)]) from None
    if len(data) > MAX_ACCOUNTS_BYTES:
        raise RulesError([Problem(name, 1, 1, "accounts file larger than 1024 KiB: not read")])
    try:
        doc = read_document(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise RulesError([Problem(name, 1, 1, "not UTF-8 text; save the file as UTF-8")]) from None
    except SyntaxProblem as err:
        raise RulesError([Problem(name, err.mark.line, err.mark.column, err.message)]) from None
    problems = [
        Problem(name, d.key.line, d.key.column, f"duplicate key '{d.path[-1]}'")
        for d in doc.duplicates
    ]
    try:
        spec = AccountsFile.model_validate(doc.data)
    except ValidationError as err:
        problems += from_validation(err.errors(), doc, root=AccountsFile, file=name)
        raise RulesError(problems) from None
    problems += _spec_problems(spec.accounts, doc, name)
    if problems:
        raise RulesError(sorted(problems, key=lambda p: (p.line, p.column)))
    return spec.accounts


def _spec_problems(specs: Sequence[AccountSpec], doc: Document, name: str) -> list[Problem]:
    """What one entry cannot say alone: duplicate SIDs, and a credential given twice or
    not at all."""
    problems: list[Problem] = []
    seen: set[str] = set()
    for index, spec in enumerate(specs):
        where = ("accounts", index)
        if spec.sid.lower() in seen:
            problems.append(problem_at(doc, (*where, "sid"), "listed twice", file=name))
        seen.add(spec.sid.lower())
        for secret in ("key", "token"):
            given = [k for k in (secret, f"{secret}_file") if getattr(spec, k) is not None]
            if len(given) != 1:
                message = f"give exactly one of '{secret}' (env:NAME) and '{secret}_file'" + (
                    ", not both" if given else ""
                )
                problems.append(problem_at(doc, where, message, file=name))
    return problems


def configured_accounts(settings: Settings) -> list[Account]:
    """The accounts this process serves: those of LIFECYCLE_ACCOUNTS, or else the one of
    EXOTEL_ACCOUNT_SID. ConfigError (RulesError for the file) names what is wrong."""
    if settings.accounts is None:
        return [Account(settings)]
    folder = settings.accounts.parent
    return [_account(settings, spec, folder) for spec in read_accounts(settings.accounts)]


def _account(settings: Settings, spec: AccountSpec, folder: Path) -> Account:
    update: dict[str, object] = {
        "exotel_account_sid": spec.sid,
        "exotel_api_key": _secret(spec.sid, "key", spec.key, spec.key_file, folder),
        "exotel_api_token": _secret(spec.sid, "token", spec.token, spec.token_file, folder),
    }
    if spec.base_url is not None:
        update["exotel_base_url"] = spec.base_url
    if spec.rules is not None:
        update["rules"] = folder / spec.rules
    if spec.rate_per_minute is not None:
        update["api_rate_per_minute"] = spec.rate_per_minute
    if spec.settled_poll is not None:
        period = parse_settled_poll(spec.settled_poll)
        if period is not None and period.total_seconds() < settings.poll_seconds:
            raise ConfigError(
                f"account {spec.sid}: settled_poll ({spec.settled_poll}) must be at least "
                f"LIFECYCLE_POLL_SECONDS ({settings.poll_seconds:g}s)"
            )
        update["settled_poll"] = period
    zone = ZoneInfo(spec.timezone) if spec.timezone else None
    return Account(settings.model_copy(update=update), Overrides(zone, spec.holidays))


def _secret(
    sid: str, what: str, reference: str | None, file: Path | None, folder: Path
) -> SecretStr:
    """The credential a reference names; ConfigError naming the account and the reference
    (never the value) when it cannot be found."""
    if reference is not None:
        variable = reference.removeprefix("env:")
        value = os.environ.get(variable, "")
        if not value:
            raise ConfigError(f"account {sid}: {what}: environment variable {variable} is not set")
        return SecretStr(value)
    assert file is not None  # read_accounts saw to it: one of the two
    path = folder / file
    try:
        value = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise ConfigError(f"account {sid}: {what}_file: cannot read {path}: {reason}") from None
    if not value:
        raise ConfigError(f"account {sid}: {what}_file: {path} is empty")
    return SecretStr(value)


def choose_account(accounts: Sequence[Account], sid: str | None) -> Account:
    """The account a command works on: `--account SID`, or the only one configured.
    ConfigError listing the configured SIDs otherwise."""
    listed = ", ".join(a.sid for a in accounts)
    if sid is None:
        if len(accounts) == 1:
            return accounts[0]
        raise ConfigError(
            f"{len(accounts)} accounts are configured ({listed}): name one with --account SID"
        )
    for account in accounts:
        if account.sid == sid:
            return account
    raise ConfigError(f"no account {sid} is configured; the accounts are: {listed}")
