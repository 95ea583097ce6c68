"""The `notify:` section of rules.yaml: where the daemon tells people what it did.

Only the shape lives here; `lifecycle.notify` sends. Secrets (a Slack webhook URL, a
webhook's bearer token, an SMTP password) are never written in the rules file, which is
read by `check`, hashed into every audit row and kept in version control: each is named
by the path of a file that holds it, read when a message is sent.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import PurePosixPath
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

from lifecycle.instant import parse_duration
from lifecycle.notice import Severity

CHANNEL_NAME = r"^[a-z0-9][a-z0-9\-_]*$"


def invalid(message: str, *, item: int | None = None) -> PydanticCustomError:
    """As `schema.invalid` (which imports this module): the message verbatim, located."""
    context: dict[str, object] = {"message": message}
    if item is not None:
        context["item"] = item
    return PydanticCustomError("rules", "{message}", context)


def _severity(value: object) -> Severity:
    for member in Severity:
        if value == member.value:
            return member
    valid = ", ".join(m.value for m in Severity)
    raise invalid(f"unknown severity {value!r}: expected one of {valid}")


def _secret_file(value: object) -> str:
    if not isinstance(value, str) or not PurePosixPath(value).is_absolute():
        raise invalid(f"expected the absolute path of a file holding the secret, got {value!r}")
    return value


def _plain_url(value: object) -> str:
    """An http(s) URL with no credentials in it: those go in a file (`url_file`)."""
    if not isinstance(value, str):
        raise invalid(f"expected a URL, got {value!r}")
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise invalid(f"expected an http:// or https:// URL, got {value!r}")
    if parts.username or parts.password:
        raise invalid("credentials do not belong in the rules file: put the URL in a file "
                      "and name it with url_file")  # fmt: skip
    return value


def _failing_for(value: object) -> timedelta:
    try:
        found = parse_duration(value)
    except ValueError as err:
        raise invalid(str(err)) from err
    if found <= timedelta(0):
        raise invalid("expected a positive duration, e.g. 10m")
    return found


SeverityName = Annotated[Severity, BeforeValidator(_severity)]
SecretFile = Annotated[str, BeforeValidator(_secret_file)]
PlainUrl = Annotated[str, BeforeValidator(_plain_url)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class WebhookSpec(_Strict):
    """A generic JSON webhook: POST of the message as JSON (README, Operate)."""

    url: PlainUrl | None = None
    url_file: SecretFile | None = None
    token_file: SecretFile | None = None  # sent as `Authorization: Bearer <token>`

    @model_validator(mode="after")
    def _one_url(self) -> WebhookSpec:
        if (self.url is None) == (self.url_file is None):
            raise invalid("give exactly one of 'url' or 'url_file'")
        return self


class SlackSpec(_Strict):
    """A Slack incoming webhook. Its URL is the secret, so it only comes from a file."""

    url_file: SecretFile


class EmailSpec(_Strict):
    host: str = Field(min_length=1)
    port: int = Field(default=587, ge=1, le=65535)
    # starttls: upgrade a plain connection (port 587); tls: TLS from the start (465);
    # none: plain text, for a relay on the same host only.
    security: Literal["starttls", "tls", "none"] = "starttls"
    from_: str = Field(alias="from", min_length=3)
    to: list[Annotated[str, Field(min_length=3)]] = Field(min_length=1)
    username: str | None = None
    password_file: SecretFile | None = None

    @model_validator(mode="after")
    def _login_whole(self) -> EmailSpec:
        if (self.username is None) != (self.password_file is None):
            raise invalid("give both 'username' and 'password_file', or neither")
        return self


class ChannelSpec(_Strict):
    """One place to send to: exactly one of `webhook`, `slack` or `email`."""

    name: str = Field(pattern=CHANNEL_NAME)
    min_severity: SeverityName = Severity.INFO
    webhook: WebhookSpec | None = None
    slack: SlackSpec | None = None
    email: EmailSpec | None = None

    @model_validator(mode="after")
    def _one_transport(self) -> ChannelSpec:
        if sum(x is not None for x in (self.webhook, self.slack, self.email)) != 1:
            raise invalid("give exactly one of 'webhook', 'slack' or 'email'")
        return self


class NotifySpec(_Strict):
    """The whole section. With no channels nothing is sent and nothing is recorded."""

    # Ticks failing without a break for this long are an error of their own.
    failing_for: Annotated[timedelta, BeforeValidator(_failing_for)] = timedelta(minutes=10)
    channels: list[ChannelSpec] = Field(default=[], max_length=20)

    @model_validator(mode="after")
    def _unique_names(self) -> NotifySpec:
        names = [c.name for c in self.channels]
        for i, name in enumerate(names):
            if name in names[:i]:
                raise invalid(f"duplicate channel name '{name}'", item=i)
        return self
