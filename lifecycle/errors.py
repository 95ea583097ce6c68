"""The error tree, named by what the caller does next.

LifecycleError
  ConfigError          bad settings: exit 2 at start
    RulesError         bad rules file: carries every problem with file, line, column
  SchemaOutdated       the database needs `lifecycle db upgrade`
  ApiError             Exotel did not do what we asked
    ApiUnavailable     timeouts, 5xx, connection errors: retry later
      RateLimited      429: wait `retry_after` seconds
    OutcomeUnknown     a mutating call whose result we never saw: re-read the campaign
    ActionRejected     4xx on a mutating call: record it, re-read the campaign
    ApiAnswerInvalid   2xx whose body does not have the documented shape (a read raises
                       ApiUnavailable for it instead, and is retried)
    AuthFailed         401/403: the credentials or the region are wrong
    NotFound           404: the campaign (or account) does not exist
  StoreUnavailable     the database is down: stop acting, stay alive, not ready
  Interrupted          the process is stopping: a wait was cut short, send nothing more
"""

from __future__ import annotations

from dataclasses import dataclass


class LifecycleError(Exception):
    """Base of every error this package raises on purpose."""


class ConfigError(LifecycleError):
    """Settings are wrong; the process cannot start."""


@dataclass(frozen=True)
class Problem:
    """One thing wrong in a rules file, located for a human."""

    file: str
    line: int
    column: int
    message: str
    severity: str = "error"

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}: {self.message}"


class RulesError(ConfigError):
    """A rules file failed validation; `problems` lists every error found."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


class SchemaOutdated(LifecycleError):
    """The database schema is older than this code."""


class ApiError(LifecycleError):
    """Exotel did not do what we asked. Messages never contain credentials."""

    def __init__(
        self,
        message: str,
        *,
        http_status: int | None = None,
        request_id: str | None = None,
        code: int | None = None,
    ) -> None:
        super().__init__(message)
        self.http_status = http_status
        self.request_id = request_id
        self.code = code


class ApiUnavailable(ApiError):
    """Timeouts, 5xx, dropped connections: try again later (not before `retry_after`, when
    the server said so with a `Retry-After` header)."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kw: object) -> None:
        super().__init__(message, **kw)  # type: ignore[arg-type]
        self.retry_after = retry_after


class RateLimited(ApiUnavailable):
    """429: wait `retry_after` seconds before any request to this account."""

    retry_after: float

    def __init__(self, message: str, *, retry_after: float, **kw: object) -> None:
        super().__init__(message, retry_after=retry_after, **kw)


class OutcomeUnknown(ApiError):
    """A mutating call was sent and no answer came back: the campaign must be re-read."""


class NotSent(ApiError):
    """A mutating call was held back before it left, because its time to leave had passed
    (the process was frozen or starved between the intent and the send): not applied."""


class ActionRejected(ApiError):
    """A mutating call was refused (4xx, or a per-item error inside a 2xx)."""


class ApiAnswerInvalid(ApiError):
    """The answer did not have the documented shape."""


class AuthFailed(ApiError):
    """401/403: wrong key/token, wrong account SID, or the wrong regional host."""


class NotFound(ApiError):
    """404: no such campaign or account."""


class StoreUnavailable(LifecycleError):
    """The database cannot be reached or refused a write."""


class Interrupted(LifecycleError):
    """A wait (rate slot, Retry-After, retry back-off) was cut short: the process is stopping.

    Raised before anything new is sent; a step already sent keeps its outcome row."""
