"""The commands with several accounts: `--account SID` picks one, and is required."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from tests.test_cli import KEY, TOKEN, LiveSim, lifecycle, live  # noqa: F401 (a fixture)
from tests.test_daemon import free_port

PASTED = "pasted-secret-7c1d0e"


@pytest.fixture
def two(live: LiveSim, tmp_path: Path) -> dict[str, str]:  # noqa: F811
    """Two accounts: the simulator's (acme1) and a second one, with credentials in env."""
    accounts = tmp_path / "accounts.yaml"
    accounts.write_text(
        "accounts:\n"
        f"  - {{sid: acme1, base_url: '{live.url}', key: env:ACME_KEY, token: env:ACME_TOKEN}}\n"
        f"  - {{sid: beta, base_url: '{live.url}', key: env:ACME_KEY, token: env:ACME_TOKEN}}\n"
    )
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("EXOTEL_", "LIFECYCLE_"))
    }
    return {
        **env,
        "ACME_KEY": KEY,
        "ACME_TOKEN": TOKEN,
        "LIFECYCLE_ACCOUNTS": str(accounts),
        "LIFECYCLE_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}",
        "LIFECYCLE_RULES": str(live.rules),
        "LIFECYCLE_API_RATE_PER_MINUTE": "6000",
    }


@pytest.mark.parametrize(
    "args",
    [
        ["audit"],
        ["holds"],
        ["why", "c1"],
        ["plan"],
        ["release", "c1"],
        ["hold", "c1", "--until", "+1d", "--reason", "x"],
        ["status"],
    ],
)
def test_with_several_accounts_a_command_must_name_one(
    args: list[str], two: dict[str, str]
) -> None:
    done = lifecycle(*args, env=two)
    assert done.returncode == 2
    assert done.stderr == (
        "lifecycle: 2 accounts are configured (acme1, beta): name one with --account SID\n"
    )
    unknown = lifecycle(*args, "--account", "gamma", env=two)
    assert unknown.returncode == 2
    assert "no account gamma is configured; the accounts are: acme1, beta" in unknown.stderr


def test_each_account_has_its_own_holds_audit_plan_and_why(
    live: LiveSim,  # noqa: F811
    two: dict[str, str],
) -> None:
    assert lifecycle("db", "upgrade", env=two).returncode == 0
    ended = live.ids["ended"]
    held = lifecycle("hold", ended, "--account", "beta", "--until", "+2d", "--reason", "b's",
                     env=two)  # fmt: skip
    assert held.returncode == 0, held.stderr
    assert "b's" in lifecycle("holds", "--account", "beta", env=two).stdout
    assert lifecycle("holds", "--account", "acme1", env=two).stdout == ""

    planned = lifecycle("plan", "--account", "acme1", "--json", env=two)
    assert planned.returncode == 0, planned.stderr
    assert ended in {d["campaign_id"] for d in json.loads(planned.stdout)["actions"]}

    # Both accounts at once. The simulator knows acme1 only: beta's tick fails (404, exit 1)
    # and acme1's acts all the same.
    ran = lifecycle("run", "--once", env=two)
    assert ran.returncode == 1, ran.stderr
    assert "HTTP 404 listing campaigns for account beta" in ran.stderr
    acted = lifecycle("audit", "--account", "acme1", "--json", env=two)
    rows = [json.loads(line) for line in acted.stdout.splitlines()]
    assert rows and {row["campaign_id"] for row in rows} >= {ended}
    # beta's hold is beta's: acme1's campaign of that id was acted on.
    assert lifecycle("audit", "--account", "beta", env=two).stdout == ""

    why = lifecycle("why", ended, "--account", "acme1", env=two)
    assert why.returncode == 0 and "audit trail (newest first):" in why.stdout, why.stderr
    assert "held until" not in why.stdout
    why_b = lifecycle("why", ended, "--account", "beta", env=two)  # read as beta: 404
    assert why_b.stdout.endswith("no decisions recorded\nno audit rows\n"), why_b.stdout
    released = lifecycle("release", ended, "--account", "beta", env=two)
    assert released.stdout == f"released {ended}\n"

    # status reads the account's own rows: acme1's tick worked, beta's failed.
    quiet = {**two, "LIFECYCLE_HTTP": f"127.0.0.1:{free_port()}"}  # no daemon answers
    good = lifecycle("status", "--account", "acme1", "--json", env=quiet)
    assert good.returncode == 0, good.stdout + good.stderr
    assert json.loads(good.stdout)["last_tick"]["ok"]
    bad = lifecycle("status", "--account", "beta", env=quiet)
    assert bad.returncode == 1 and "the last tick failed: " in bad.stdout, bad.stdout


def test_check_accounts_reports_located_problems_and_never_a_pasted_secret(
    tmp_path: Path,
) -> None:
    accounts = tmp_path / "accounts.yaml"
    accounts.write_text(
        f"accounts:\n  - sid: acme1\n    key: {PASTED}\n    token: env:T\n    colour: red\n"
    )
    done = lifecycle("check", "--accounts", str(accounts))
    assert done.returncode == 2
    assert PASTED not in done.stdout + done.stderr
    assert f"{accounts}:3:10: accounts[0].key: must be a reference" in done.stderr
    assert f"{accounts}:5:5: accounts[0].colour: unknown key 'colour'" in done.stderr


def test_check_accounts_checks_each_accounts_rules(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("timezone: Mars/Olympus\ncalendars: {}\nrules: []\n")
    accounts = tmp_path / "accounts.yaml"
    accounts.write_text(
        "accounts:\n"
        "  - {sid: good, key: env:K, token: env:T}\n"
        "  - {sid: broken, key: env:K, token: env:T, rules: bad.yaml}\n"
    )
    done = lifecycle("check", "--accounts", str(accounts), "rules.yaml")
    assert done.returncode == 2
    assert done.stdout.splitlines()[:2] == [
        f"{accounts}: ok (2 accounts: good, broken)",
        "account good: rules.yaml: ok" + done.stdout.splitlines()[1].split("rules.yaml: ok")[1],
    ]
    assert f"account broken: {bad}: not valid" in done.stdout
    assert f"{bad}:1:11: timezone: " in done.stderr


def test_the_simulator_serves_the_account_it_is_told() -> None:
    """`lifecycle simulator --account SID`: one simulator per account of an accounts file."""
    import base64
    import subprocess
    import sys
    import time
    import urllib.error
    import urllib.request

    port = free_port()
    served = subprocess.Popen(
        [sys.executable, "-m", "lifecycle", "simulator", "--port", str(port),
         "--account", "beta", "--rate", "0", "--campaigns", "3"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    basic = "Basic " + base64.b64encode(b"sim-key:sim-token").decode()

    def get(sid: str) -> dict[str, Any]:
        url = f"http://127.0.0.1:{port}/v2/accounts/{sid}/campaigns"
        request = urllib.request.Request(url, headers={"Authorization": basic})
        with urllib.request.urlopen(request, timeout=5) as answer:
            found: dict[str, Any] = json.loads(answer.read())
        return found

    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                body = get("beta")
                break
            except urllib.error.URLError as exc:  # not listening yet (an HTTP error is not)
                if isinstance(exc, urllib.error.HTTPError):
                    raise
                assert time.monotonic() < deadline, "the simulator did not answer"
                time.sleep(0.1)
        with pytest.raises(urllib.error.HTTPError) as other:
            get("acme1")
        assert other.value.code in (401, 403, 404)
    finally:
        served.terminate()
        served.wait(10)
    assert body["metadata"]["total"] == 3
