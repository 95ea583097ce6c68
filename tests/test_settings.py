from __future__ import annotations

from pathlib import Path

import pytest

from lifecycle.errors import ConfigError
from lifecycle.settings import load_settings


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "EXOTEL_ACCOUNT_SID",
        "EXOTEL_API_KEY",
        "EXOTEL_API_TOKEN",
        "EXOTEL_BASE_URL",
        "LIFECYCLE_DATABASE_URL",
        "LIFECYCLE_POLL_SECONDS",
        "EXOTEL_API_TOKEN_FILE",
    ):
        monkeypatch.delenv(name, raising=False)


def test_defaults_match_the_design() -> None:
    s = load_settings()
    assert s.exotel_base_url == "https://api.exotel.com"
    assert s.database_url.get_secret_value() == "sqlite+aiosqlite:///lifecycle.db"
    assert s.rules == Path("rules.yaml")
    assert (s.poll_seconds, s.api_rate_per_minute, s.http, s.dry_run) == (
        60,
        30,
        "127.0.0.1:8787",
        False,
    )


def test_credentials_in_the_base_url_are_refused_without_echoing_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("EXOTEL_BASE_URL", "https://k3y:s3cret@api.exotel.com")
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert "EXOTEL_BASE_URL" in str(caught.value)
    assert "s3cret" not in str(caught.value) and "k3y" not in str(caught.value)


def test_bad_number_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LIFECYCLE_POLL_SECONDS", "soon")
    with pytest.raises(ConfigError, match="LIFECYCLE_POLL_SECONDS"):
        load_settings()


def test_missing_credentials_are_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EXOTEL_ACCOUNT_SID", "acme1")
    with pytest.raises(ConfigError, match="EXOTEL_API_KEY, EXOTEL_API_TOKEN"):
        load_settings().require_credentials()


def test_secret_from_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("t0ken\n")
    monkeypatch.setenv("EXOTEL_API_TOKEN_FILE", str(token))
    s = load_settings()
    assert s.exotel_api_token.get_secret_value() == "t0ken"
    assert "t0ken" not in repr(s)
