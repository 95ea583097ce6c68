"""A non-editable install starts: the wheel carries its migrations, so `db upgrade` and
`run --once` work from a fresh venv with no checkout and no LIFECYCLE_MIGRATIONS.

Cost: the wheel is built once, offline (`--no-build-isolation`, setuptools from the test
extras), from a copy of the sources, and installed with `--no-deps --no-index` into a venv
without pip whose only link to the dependencies is a `.pth` line naming this venv's
site-packages. A `.pth` line adds a folder to the path without running the `.pth` files in
it, so this checkout's editable install stays invisible there: `lifecycle` is the wheel's.
A few seconds, against a minute or more (and the network) for a full install.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from collections.abc import Iterator
from pathlib import Path

import pytest

from lifecycle.clock import SystemClock
from lifecycle.simulator import Simulator, SimulatorConfig
from tests.fixtures.sim import served_in_thread
from tests.test_cli import KEY, TOKEN, rules_closed_around, seed

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A venv holding the wheel of this checkout (dependencies shared); its bin folder."""
    base = tmp_path_factory.mktemp("install")
    source = base / "src"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, source / name)
    junk = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(ROOT / "lifecycle", source / "lifecycle", ignore=junk)
    pip = [sys.executable, "-m", "pip"]
    quiet = {"check": True, "capture_output": True, "timeout": 300}
    dist = base / "dist"
    wheel = [*pip, "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(dist)]
    subprocess.run([*wheel, str(source)], **quiet)  # type: ignore[call-overload]
    venv = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], **quiet)  # type: ignore[call-overload]
    python = venv / "bin" / "python"
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    Path(purelib, "_shared_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    (built,) = dist.glob("lifecycle-*.whl")
    install = [*pip, "--python", str(python), "install", "-q", "--no-deps", "--no-index"]
    subprocess.run([*install, str(built)], **quiet)  # type: ignore[call-overload]
    return venv / "bin"


@pytest.fixture
def world(tmp_path: Path) -> Iterator[dict[str, str]]:
    """A simulator on the real clock, and the environment of an operator outside the
    checkout (no LIFECYCLE_MIGRATIONS, no PYTHONPATH)."""
    sim = Simulator(
        SimulatorConfig(api_key=KEY, api_token=TOKEN, rate_per_minute=None),
        clock=SystemClock(),
    )
    now = sim.clock.now()
    seed(sim, now)
    rules = tmp_path / "rules.yaml"
    rules.write_text(rules_closed_around(now), encoding="utf-8")
    with served_in_thread(sim) as url:
        yield {
            **{
                k: v
                for k, v in os.environ.items()
                if k not in ("LIFECYCLE_MIGRATIONS", "PYTHONPATH")
            },
            "EXOTEL_ACCOUNT_SID": sim.config.account_sid,
            "EXOTEL_API_KEY": KEY,
            "EXOTEL_API_TOKEN": TOKEN,
            "EXOTEL_BASE_URL": url,
            "LIFECYCLE_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'installed.db'}",
            "LIFECYCLE_RULES": str(rules),
            "LIFECYCLE_API_RATE_PER_MINUTE": "6000",
        }


def run(
    bin_dir: Path, *args: str, env: dict[str, str], cwd: Path
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(bin_dir / args[0]), *args[1:]],
        env=env, cwd=cwd, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_a_wheel_installed_elsewhere_upgrades_its_database_and_ticks(
    installed: Path, world: dict[str, str], tmp_path: Path
) -> None:
    where = run(installed, "python", "-c", "import lifecycle; print(lifecycle.__file__)",
                env=world, cwd=tmp_path)  # fmt: skip
    assert where.stdout.startswith(str(installed.parent)), where  # the wheel, not the checkout
    assert not (tmp_path / "installed.db").exists()

    upgrade = run(installed, "lifecycle", "db", "upgrade", env=world, cwd=tmp_path)
    assert upgrade.returncode == 0, upgrade.stderr
    assert upgrade.stdout.strip() == "database schema is up to date"

    once = run(installed, "lifecycle", "run", "--once", env=world, cwd=tmp_path)
    assert once.returncode == 0, once.stderr
    assert "tick done: 3 campaigns" in once.stderr, once.stderr
    assert "1 steps sent, 0 failed" in once.stderr, once.stderr  # "running", paused


def test_the_checkout_migrations_link_is_the_package_folder() -> None:
    # The fixed layout keeps `migrations/` at the top: it is the package's folder, not a copy.
    assert (ROOT / "migrations").resolve() == ROOT / "lifecycle" / "store" / "migrations"
