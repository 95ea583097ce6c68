"""Typed settings from the environment (and, for secrets, from files).

Every variable is documented in the README. Secrets are `SecretStr`, so they never print.
A secret may also be given as a file path in `<NAME>_FILE` (Docker/systemd credentials).
"""

from __future__ import annotations

import os
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
    poll_seconds: float = Field(default=60.0, gt=0, alias="LIFECYCLE_POLL_SECONDS")
    api_rate_per_minute: float = Field(default=30.0, gt=0, alias="LIFECYCLE_API_RATE_PER_MINUTE")
    http: str = Field(default="127.0.0.1:8787", alias="LIFECYCLE_HTTP")
    http_max_connections: int = Field(default=128, ge=1, alias="LIFECYCLE_HTTP_MAX_CONNECTIONS")
    http_idle_timeout: float = Field(default=10.0, gt=0, alias="LIFECYCLE_HTTP_IDLE_TIMEOUT")
    webhook_token: SecretStr = Field(default=SecretStr(""), alias="LIFECYCLE_WEBHOOK_TOKEN")
    webhook_min_interval: float = Field(default=30.0, ge=0, alias="LIFECYCLE_WEBHOOK_MIN_INTERVAL")
    dry_run: bool = Field(default=False, alias="LIFECYCLE_DRY_RUN")
    http_timeout_seconds: float = Field(default=30.0, gt=0, alias="LIFECYCLE_HTTP_TIMEOUT")
    retention_days: int = Field(default=90, ge=1, alias="LIFECYCLE_RETENTION_DAYS")
    log_level: str = Field(default="INFO", alias="LIFECYCLE_LOG_LEVEL")
    log_format: Literal["text", "json"] = Field(default="text", alias="LIFECYCLE_LOG_FORMAT")

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

    @model_validator(mode="after")
    def _sid_is_path_safe(self) -> Settings:
        if self.exotel_account_sid and not self.exotel_account_sid.replace("-", "").isalnum():
            raise ValueError("EXOTEL_ACCOUNT_SID must be letters, digits and dashes")
        return self

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
