from __future__ import annotations

from datetime import timedelta
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
        "LIFECYCLE_HTTP_TIMEOUT",
        "LIFECYCLE_LEASE_SECONDS",
        "LIFECYCLE_INSTANCE",
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


def test_the_lease_outlasts_the_longest_request_it_allows() -> None:
    s = load_settings()
    # bound = 2 s to hand the request over + the 30 s timeout + 1 s slack
    assert s.send_bound == timedelta(seconds=33)
    assert s.lease_ttl == timedelta(seconds=180)  # 3 polls, at least a minute
    assert s.unknown_grace == timedelta(seconds=66)
    assert s.instance == "default"
    # a longer timeout stretches the default lease with it: bound + 5 s of headroom
    assert load_settings(LIFECYCLE_POLL_SECONDS=10).lease_ttl == timedelta(seconds=60)
    stretched = load_settings(LIFECYCLE_POLL_SECONDS=10, LIFECYCLE_HTTP_TIMEOUT=90)
    assert stretched.lease_ttl == timedelta(seconds=98)
    assert load_settings(LIFECYCLE_LEASE_SECONDS=38).lease_ttl == timedelta(seconds=38)


def test_a_lease_shorter_than_a_request_may_live_is_refused_naming_both_settings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LIFECYCLE_LEASE_SECONDS", "20")
    monkeypatch.setenv("LIFECYCLE_HTTP_TIMEOUT", "30")
    with pytest.raises(ConfigError) as caught:
        load_settings()
    message = str(caught.value)
    assert "LIFECYCLE_LEASE_SECONDS (20) must be at least LIFECYCLE_HTTP_TIMEOUT (30)" in message
    assert "= 38 seconds" in message


@pytest.mark.parametrize("name", ["", "a b", "../x", "x" * 41, "-lead", "näme"])
def test_the_instance_is_a_short_plain_name(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    monkeypatch.setenv("LIFECYCLE_INSTANCE", name)
    with pytest.raises(ConfigError, match="LIFECYCLE_INSTANCE: must be a short plain name"):
        load_settings()
