"""The accounts file: references to credentials only, located errors, per-account rules."""

from __future__ import annotations

from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from lifecycle.accounts import choose_account, configured_accounts, read_accounts
from lifecycle.errors import ConfigError, RulesError
from lifecycle.rules import load_rules
from lifecycle.settings import Settings

ROOT = Path(__file__).parents[1]
SECRET = "s3cr3t-token-value-9f8e"  # never to be printed back


def write(folder: Path, text: str, name: str = "accounts.yaml") -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def settings_with(accounts: Path | None) -> Settings:
    return Settings(  # type: ignore[call-arg]
        EXOTEL_ACCOUNT_SID="single",
        EXOTEL_API_KEY="k",
        EXOTEL_API_TOKEN="t",
        LIFECYCLE_RULES=ROOT / "rules.yaml",
        LIFECYCLE_ACCOUNTS=accounts,
    )


def problems(path: Path) -> list[str]:
    with pytest.raises(RulesError) as caught:
        read_accounts(path)
    return [str(p) for p in caught.value.problems]


def test_without_an_accounts_file_the_environment_names_the_one_account() -> None:
    settings = settings_with(None)
    (account,) = configured_accounts(settings)
    assert account.settings is settings and account.sid == "single"


def test_each_account_gets_its_credentials_region_rules_and_budget(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BETA_KEY", "beta-key")
    monkeypatch.setenv("BETA_TOKEN", "beta-token")
    (tmp_path / "alpha.key").write_text("alpha-key\n")
    (tmp_path / "alpha.token").write_text("alpha-token\n")
    (tmp_path / "alpha.yaml").write_text((ROOT / "rules.yaml").read_text())
    path = write(
        tmp_path,
        """\
accounts:
  - sid: alpha
    base_url: https://api.in.exotel.com/
    key_file: alpha.key
    token_file: alpha.token
    rules: alpha.yaml
    rate_per_minute: 12
  - sid: beta
    key: env:BETA_KEY
    token: env:BETA_TOKEN
    timezone: Asia/Dubai
    holidays: {country: AE}
""",
    )
    alpha, beta = configured_accounts(settings_with(path))
    assert alpha.settings.exotel_base_url == "https://api.in.exotel.com"
    assert alpha.settings.exotel_api_key.get_secret_value() == "alpha-key"
    assert alpha.settings.exotel_api_token.get_secret_value() == "alpha-token"
    assert alpha.settings.rules == tmp_path / "alpha.yaml"
    assert alpha.settings.api_rate_per_minute == 12
    assert beta.sid == "beta" and beta.settings.rules == ROOT / "rules.yaml"  # the shared one
    assert beta.settings.exotel_api_key.get_secret_value() == "beta-key"
    assert beta.settings.exotel_base_url == "https://api.exotel.com"  # the default region
    assert beta.settings.api_rate_per_minute == 30  # LIFECYCLE_API_RATE_PER_MINUTE
    # The shared file, read for beta: its zone and its holidays.
    shared = load_rules(beta.settings.rules, beta.overrides)
    assert shared.timezone == ZoneInfo("Asia/Dubai")
    book = shared.calendars["business-hours"].holidays
    assert book is not None and book.country == "AE" and book.subdivision is None
    assert load_rules(ROOT / "rules.yaml").timezone == ZoneInfo("Asia/Kolkata")


def test_a_secret_written_into_the_file_is_refused_without_repeating_it(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        f"""\
accounts:
  - sid: alpha
    key: env:ALPHA_KEY
    token: {SECRET}
""",
    )
    (found,) = problems(path)
    assert found.startswith(f"{path}:4:12: accounts[0].token: must be a reference, `env:NAME`")
    assert SECRET not in found


def test_every_problem_is_located(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
accounts:
  - sid: alpha
    key: env:A_KEY
    token_file: a.token
    rate_per_minute: 0
    region: in
  - sid: alpha
    key: env:B_KEY
    key_file: b.key
    token: env:B_TOKEN
    timezone: IST
""",
    )
    found = problems(path)
    assert found[0] == f"{path}:5:22: accounts[0].rate_per_minute: must be more than 0.0, got 0"
    assert found[1].startswith(f"{path}:6:5: accounts[0].region: unknown key 'region'")
    assert found[2].startswith(f"{path}:11:15: accounts[1].timezone: ")
    assert "Asia/Kolkata" in found[2]  # IST: the message says which zone is meant


def test_duplicate_sids_and_credentials_given_twice_or_not_at_all(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
accounts:
  - sid: alpha
    key: env:A_KEY
  - sid: ALPHA
    key: env:B_KEY
    key_file: b.key
    token: env:B_TOKEN
""",
    )
    assert problems(path) == [
        f"{path}:2:5: accounts[0]: give exactly one of 'token' (env:NAME) and 'token_file'",
        f"{path}:4:5: accounts[1]: give exactly one of 'key' (env:NAME) and 'key_file', not both",
        f"{path}:4:10: accounts[1].sid: listed twice",
    ]


def test_not_yaml_and_empty_files_are_located_errors(tmp_path: Path) -> None:
    assert problems(write(tmp_path, "accounts: [\n")) == [
        f"{tmp_path / 'accounts.yaml'}:2:1: invalid YAML: expected the node content, but "
        "found '<stream end>' (while parsing a flow node started at line 2)"
    ]
    (empty,) = problems(write(tmp_path, "accounts: []\n"))
    assert empty == f"{tmp_path / 'accounts.yaml'}:1:11: accounts: needs at least 1 item(s), got []"


def test_a_missing_credential_names_the_account_and_reference_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("NOT_SET_ANYWHERE", raising=False)
    path = write(
        tmp_path,
        "accounts:\n  - {sid: alpha, key: env:NOT_SET_ANYWHERE, token_file: none.token}\n",
    )
    with pytest.raises(ConfigError, match="account alpha: key: environment variable "):
        configured_accounts(settings_with(path))
    monkeypatch.setenv("NOT_SET_ANYWHERE", SECRET)
    with pytest.raises(ConfigError) as caught:
        configured_accounts(settings_with(path))
    assert str(caught.value) == (
        f"account alpha: token_file: cannot read {tmp_path / 'none.token'}: "
        "No such file or directory"
    )


def test_a_command_names_its_account_when_there_are_several(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("K", "k")
    path = write(
        tmp_path,
        "accounts:\n"
        "  - {sid: alpha, key: env:K, token: env:K}\n"
        "  - {sid: beta, key: env:K, token: env:K}\n",
    )
    accounts = configured_accounts(settings_with(path))
    with pytest.raises(ConfigError) as caught:
        choose_account(accounts, None)
    assert str(caught.value) == (
        "2 accounts are configured (alpha, beta): name one with --account SID"
    )
    with pytest.raises(ConfigError) as caught:
        choose_account(accounts, "gamma")
    assert str(caught.value) == "no account gamma is configured; the accounts are: alpha, beta"
    assert choose_account(accounts, "beta").sid == "beta"
    assert choose_account(accounts[:1], None).sid == "alpha"


def test_the_example_accounts_file_is_valid() -> None:
    (first, *rest) = read_accounts(ROOT / "deploy" / "accounts.example.yaml")
    assert rest and first.sid
