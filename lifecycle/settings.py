"""Typed settings from the environment (and, for secrets, from files).

Every variable is documented in the README. Secrets are `SecretStr`, so they never print.
A secret may also be given as a file path in `<NAME>_FILE` (Docker/systemd credentials).
"""

from __future__ import annotations

import os
import re
from datetime import timedelta
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from lifecycle.errors import ConfigError

_SECRET_FILE_VARS = (
    "EXOTEL_API_KEY",
    "EXOTEL_API_TOKEN",
    "LIFECYCLE_DATABASE_URL",
    "LIFECYCLE_WEBHOOK_TOKEN",
)

# The bound on a request's life after its intent's lease check (README, Deploy): the most
# time from the fenced INSERT to handing the request to the HTTP client (checked on the
# monotonic clock just before sending; past it the step is not sent) ...
SEND_WINDOW = timedelta(seconds=2)
# ... plus LIFECYCLE_HTTP_TIMEOUT (total, connect included), plus this much slack for the
# commit and for clocks: the database's and the host's monotonic clock run at one rate, not
# at one reading, and neither is compared with the other.
BOUND_SLACK = timedelta(seconds=1)
# A lease must outlast the bound by this much: before a step it is renewed when little more
# than this is left (Lease.renew_margin), and the fenced INSERT of that step (a statement
# later) must still find bound + this left.
LEASE_HEADROOM = timedelta(seconds=5)
# LIFECYCLE_SETTLED_POLL: "off", "on" (this period) or a duration such as "24h", "90m", "1d".
SETTLED_POLL_DEFAULT = timedelta(hours=24)
_SETTLED_POLL_LEAST = timedelta(minutes=1)
_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*([smhd])")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
_INSTANCE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,39}")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="", extra="ignore", frozen=True)

    exotel_account_sid: str = Field(default="", alias="EXOTEL_ACCOUNT_SID")
    exotel_api_key: SecretStr = Field(default=SecretStr(""), alias="EXOTEL_API_KEY")
    exotel_api_token: SecretStr = Field(default=SecretStr(""), alias="EXOTEL_API_TOKEN")
    exotel_base_url: str = Field(default="https://api.exotel.com", alias="EXOTEL_BASE_URL")
    database_url: SecretStr = Field(
        default=SecretStr("sqlite+aiosqlite:///lifecycle.db"), alias="LIFECYCLE_DATABASE_URL"
    )
    rules: Path = Field(default=Path("rules.yaml"), alias="LIFECYCLE_RULES")
    accounts: Path | None = Field(default=None, alias="LIFECYCLE_ACCOUNTS")
    poll_seconds: float = Field(default=60.0, gt=0, alias="LIFECYCLE_POLL_SECONDS")
    api_rate_per_minute: float = Field(default=30.0, gt=0, alias="LIFECYCLE_API_RATE_PER_MINUTE")
    http: str = Field(default="127.0.0.1:8787", alias="LIFECYCLE_HTTP")
    http_max_connections: int = Field(default=128, ge=1, alias="LIFECYCLE_HTTP_MAX_CONNECTIONS")
    http_idle_timeout: float = Field(default=10.0, gt=0, alias="LIFECYCLE_HTTP_IDLE_TIMEOUT")
    webhook_token: SecretStr = Field(default=SecretStr(""), alias="LIFECYCLE_WEBHOOK_TOKEN")
    webhook_min_interval: float = Field(default=30.0, ge=0, alias="LIFECYCLE_WEBHOOK_MIN_INTERVAL")
    dry_run: bool = Field(default=False, alias="LIFECYCLE_DRY_RUN")
    http_timeout_seconds: float = Field(default=30.0, gt=0, alias="LIFECYCLE_HTTP_TIMEOUT")
    lease_seconds: float | None = Field(default=None, gt=0, alias="LIFECYCLE_LEASE_SECONDS")
    instance: str = Field(default="default", alias="LIFECYCLE_INSTANCE")
    retention_days: int = Field(default=90, ge=1, alias="LIFECYCLE_RETENTION_DAYS")
    log_level: str = Field(default="INFO", alias="LIFECYCLE_LOG_LEVEL")
    log_format: Literal["text", "json"] = Field(default="text", alias="LIFECYCLE_LOG_FORMAT")
    # Experimental (README, Configure): None lists every campaign every tick.
    settled_poll: timedelta | None = Field(default=None, alias="LIFECYCLE_SETTLED_POLL")

    @field_validator("settled_poll", mode="before")
    @classmethod
    def _settled_period(cls, value: object) -> timedelta | None:
        return parse_settled_poll(value)

    @field_validator("exotel_base_url")
    @classmethod
    def _no_credentials_in_url(cls, value: str) -> str:
        if "@" in value.split("//", 1)[-1].split("/", 1)[0]:
            raise ValueError(
                "must not contain credentials; set EXOTEL_API_KEY and EXOTEL_API_TOKEN instead"
            )
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with https:// (or http:// for the local simulator)")
        return value.rstrip("/")

    @field_validator("http")
    @classmethod
    def _host_port(cls, value: str) -> str:
        host, sep, port = value.rpartition(":")
        if not sep or not host or not port.isdigit():
            raise ValueError("must be HOST:PORT, e.g. 127.0.0.1:8787")
        return value

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        if value.upper() not in LOG_LEVELS:
            raise ValueError(f"must be one of {', '.join(LOG_LEVELS)} (got {value!r})")
        return value.upper()

    @field_validator("instance")
    @classmethod
    def _plain_name(cls, value: str) -> str:
        if not _INSTANCE.fullmatch(value):
            raise ValueError(
                "must be a short plain name: letters, digits, '.', '_' or '-', at most 40"
            )
        return value

    @model_validator(mode="after")
    def _sid_is_path_safe(self) -> Settings:
        if self.exotel_account_sid and not self.exotel_account_sid.replace("-", "").isalnum():
            raise ValueError("EXOTEL_ACCOUNT_SID must be letters, digits and dashes")
        return self

    @model_validator(mode="after")
    def _lease_outlasts_a_request(self) -> Settings:
        least = self.send_bound + LEASE_HEADROOM
        if self.lease_seconds is not None and timedelta(seconds=self.lease_seconds) < least:
            raise ValueError(
                f"LIFECYCLE_LEASE_SECONDS ({self.lease_seconds:g}) must be at least "
                f"LIFECYCLE_HTTP_TIMEOUT ({self.http_timeout_seconds:g}) + "
                f"{(least - timedelta(seconds=self.http_timeout_seconds)).total_seconds():g} = "
                f"{least.total_seconds():g} seconds: a request may live that long after the "
                "lease check that allowed it (README, Deploy)"
            )
        return self

    @model_validator(mode="after")
    def _settled_poll_outlasts_a_poll(self) -> Settings:
        period = self.settled_poll
        if period is not None and period < timedelta(seconds=self.poll_seconds):
            raise ValueError(
                f"LIFECYCLE_SETTLED_POLL ({format_period(period)}) must be at least "
                f"LIFECYCLE_POLL_SECONDS ({self.poll_seconds:g}s): settled campaigns are "
                "listed in full at most once per poll anyway"
            )
        return self

    @property
    def send_bound(self) -> timedelta:
        """The longest a request may live after the lease check of its intent."""
        return SEND_WINDOW + timedelta(seconds=self.http_timeout_seconds) + BOUND_SLACK

    @property
    def lease_ttl(self) -> timedelta:
        """LIFECYCLE_LEASE_SECONDS, or 3 polls, at least a minute and bound + headroom."""
        if self.lease_seconds is not None:
            return timedelta(seconds=self.lease_seconds)
        polls = timedelta(seconds=max(3 * self.poll_seconds, 60))
        return max(polls, self.send_bound + LEASE_HEADROOM)

    @property
    def unknown_grace(self) -> timedelta:
        """How long an unresolved intent is left alone before re-reading decides it: twice
        the bound, for a request held up on the wire or in the server's queue past our
        timeout (seen: delivered 2x the timeout after it was sent)."""
        return 2 * self.send_bound

    @property
    def http_host(self) -> str:
        return self.http.rpartition(":")[0]

    @property
    def http_port(self) -> int:
        return int(self.http.rpartition(":")[2])

    @property
    def webhook_gap(self) -> float:
        """Seconds between early ticks that webhooks bring: never more than the poll."""
        return min(self.webhook_min_interval, self.poll_seconds)

    def require_credentials(self) -> None:
        """Raise ConfigError naming every missing credential variable."""
        missing = [
            name
            for name, value in (
                ("EXOTEL_ACCOUNT_SID", self.exotel_account_sid),
                ("EXOTEL_API_KEY", self.exotel_api_key.get_secret_value()),
                ("EXOTEL_API_TOKEN", self.exotel_api_token.get_secret_value()),
            )
            if not value
        ]
        if missing:
            raise ConfigError(f"missing settings: {', '.join(missing)} (see README, Configure)")


def parse_settled_poll(value: object) -> timedelta | None:
    """LIFECYCLE_SETTLED_POLL (or an account's `settled_poll`): None for off (the default:
    every tick lists every campaign), else how often settled campaigns are listed in full.
    ValueError says what is accepted."""
    if value is None or isinstance(value, timedelta):
        period = value
    elif isinstance(value, bool):
        period = SETTLED_POLL_DEFAULT if value else None
    elif isinstance(value, str) and value.strip().lower() in ("", "off", "false", "no", "0"):
        period = None
    elif isinstance(value, str) and value.strip().lower() in ("on", "true", "yes", "1"):
        period = SETTLED_POLL_DEFAULT
    elif isinstance(value, str) and (match := _DURATION.fullmatch(value.strip().lower())):
        period = timedelta(seconds=float(match[1]) * _UNITS[match[2]])
    else:
        raise ValueError(
            f"must be off, on (every {format_period(SETTLED_POLL_DEFAULT)}) or a duration "
            f"such as 24h, 90m or 1d (got {value!r})"
        )
    if period is not None and period < _SETTLED_POLL_LEAST:
        raise ValueError(f"must be at least 1m, got {format_period(period)}")
    return period


def format_period(period: timedelta) -> str:
    seconds = period.total_seconds()
    for unit in ("d", "h", "m"):
        if seconds >= _UNITS[unit] and seconds % _UNITS[unit] == 0:
            return f"{seconds / _UNITS[unit]:g}{unit}"
    return f"{seconds:g}s"


def _secrets_from_files(environ: dict[str, str]) -> dict[str, str]:
    found: dict[str, str] = {}
    for name in _SECRET_FILE_VARS:
        path = environ.get(f"{name}_FILE")
        if path and name not in environ:
            try:
                found[name] = Path(path).read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise ConfigError(f"{name}_FILE: cannot read {path}: {exc.strerror}") from None
    return found


def load_settings(**overrides: object) -> Settings:
    """Settings from the environment; ConfigError names each bad variable (never its value)."""
    environ = dict(os.environ)
    extra = _secrets_from_files(environ)
    try:
        return Settings(**{**extra, **overrides})  # type: ignore[arg-type]
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            field_name = str(err["loc"][0]) if err["loc"] else "settings"
            alias = (
                Settings.model_fields[field_name].alias
                if field_name in Settings.model_fields
                else field_name
            )
            message = str(err["msg"]).removeprefix("Value error, ")
            lines.append(f"{alias or field_name}: {message}")
        raise ConfigError("invalid settings:\n  " + "\n  ".join(lines)) from None
