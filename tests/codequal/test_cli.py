"""The installed ``codequalbench`` console script, run as a user would: embedded mode, its own SQLite data directory."""

import os
import re
import shutil
import sqlite3
import stat
import subprocess
import sys
from contextlib import closing
from pathlib import Path

import pytest

STRONG_PASSWORD = "violet-anchor-thermos-42"


def _script() -> str:
    beside_python = Path(sys.executable).parent / "codequalbench"
    found = str(beside_python) if beside_python.exists() else shutil.which("codequalbench")
    assert found, "the codequalbench console script is not installed (pip install -e .)"
    return found


CLI = _script()


def cli_env(data_dir: Path, **extra: str) -> dict[str, str]:
    """The caller's environment without anything that would point at a server or another data directory."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE", "SECRET_KEY", "DEBUG"}
        and not key.startswith("CODEQUAL_")
    }
    env.update(CODEQUAL_DATA_DIR=str(data_dir), CODEQUAL_ENV_FILE=str(data_dir / "no.env"), **extra)
    return env


def run(data_dir: Path, *args: str, **extra_env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [CLI, *args], env=cli_env(data_dir, **extra_env), capture_output=True, text=True, timeout=120, check=False
    )


def ok(data_dir: Path, *args: str, **extra_env: str) -> str:
    result = run(data_dir, *args, **extra_env)
    assert result.returncode == 0, f"{args} exited {result.returncode}:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def count_rows(data_dir: Path, table: str) -> int:
    """Rows in ``table`` of the data directory's database; 0 where there is no database or no such table yet."""
    path = data_dir / "codequal.sqlite3"
    if not path.exists():
        return 0
    with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
        try:
            return db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]  # noqa: S608 - table names are ours
        except sqlite3.OperationalError as exc:
            if "no such table" in str(exc):
                return 0
            raise


@pytest.fixture(scope="module")
def initialized(tmp_path_factory) -> Path:
    """A data directory after ``init --noinput`` (generated password), shared by the read-mostly tests."""
    data_dir = tmp_path_factory.mktemp("cqb-cli")
    out = ok(data_dir, "init", "--noinput")
    assert "Superuser 'admin': created." in out
    return data_dir


def test_init_creates_superuser_organization_and_project(initialized):
    password_file = initialized / "initial-admin-password"

    assert stat.S_IMODE(password_file.stat().st_mode) == 0o600
    assert len(password_file.read_text().strip()) >= 20
    assert count_rows(initialized, "auth_user") == 1
    assert count_rows(initialized, "accounts_organization") == 1
    assert count_rows(initialized, "accounts_project") == 1


def test_init_twice_keeps_what_is_there(initialized):
    password_before = (initialized / "initial-admin-password").read_text()

    out = ok(initialized, "init", "--noinput")

    assert "Superuser 'admin': already there." in out
    assert "Organization 'Default organization' (default-organization): already there." in out
    assert "Project 'Default project' (default-project): already there." in out
    assert "generated password" not in out
    assert (initialized / "initial-admin-password").read_text() == password_before
    assert count_rows(initialized, "auth_user") == 1


def test_generated_password_signs_in(initialized):
    code = (
        "from django.conf import settings\n"
        "from django.contrib.auth import authenticate\n"
        "password = (settings.DATA_DIR / 'initial-admin-password').read_text().strip()\n"
        "user = authenticate(username='admin', password=password)\n"
        "print('RIGHT', user is not None and user.is_superuser)\n"
        "print('WRONG', authenticate(username='admin', password=password + 'x') is not None)\n"
    )

    out = ok(initialized, "manage", "shell", "-c", code)

    assert "RIGHT True" in out
    assert "WRONG False" in out


def test_status_reports_embedded_configuration(initialized):
    out = ok(initialized, "status")

    assert f"Data directory : {initialized.resolve()}" in out
    assert "Database       : sqlite3" in out
    assert "Jobs           : in-process" in out
    assert re.search(r"^database\s+: ok$", out, re.MULTILINE)
    assert "Migrations     : up to date" in out


def test_status_on_a_fresh_directory_asks_for_init(tmp_path):
    out = ok(tmp_path, "status")

    assert re.search(r"Migrations\s+: \d+ pending \(run codequalbench init\)", out)


def test_token_create_list_revoke(initialized):
    key = ok(initialized, "token", "create", "--user", "admin", "--name", "ci").strip()

    assert re.fullmatch(r"cqb_[A-Za-z0-9_-]{40,}", key)
    listing = ok(initialized, "token", "list", "--user", "admin")
    line = next(row for row in listing.splitlines() if row.endswith(" ci"))
    assert key not in listing
    assert f"{key[:12]}…" in line
    assert "active" in line
    assert "expires never" in line

    token_id = line.split()[0]
    out = ok(initialized, "token", "revoke", token_id, "--user", "admin")

    assert f"Revoked token {token_id} (ci)." in out
    line = next(row for row in ok(initialized, "token", "list", "--user", "admin").splitlines() if row.endswith(" ci"))
    assert "revoked" in line


def test_token_create_with_expiry(initialized):
    ok(initialized, "token", "create", "--user", "admin", "--name", "short-lived", "--expires-days", "7")

    listing = ok(initialized, "token", "list", "--user", "admin")

    line = next(row for row in listing.splitlines() if row.endswith(" short-lived"))
    assert re.search(r"expires \d{4}-\d{2}-\d{2}T", line)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("token", "create", "--user", "nobody", "--name", "x"), "No active user 'nobody'."),
        (("token", "revoke", "999999", "--user", "admin"), "admin has no token 999999."),
        (("token", "create", "--user", "admin", "--name", "   "), "A token needs a name."),
    ],
)
def test_token_errors(initialized, args, message):
    result = run(initialized, *args)

    assert result.returncode == 1
    assert message in result.stderr
    assert "cqb_" not in result.stdout


def test_worker_without_redis_explains_itself(tmp_path):
    result = run(tmp_path, "worker", "--burst")

    assert result.returncode != 0
    assert "REDIS_URL is not set" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("password", "message"),
    [("short", "This password is too short."), ("password123", "This password is too common.")],
)
def test_init_refuses_a_weak_password_and_creates_nothing(tmp_path, password, message):
    result = run(tmp_path, "init", "--noinput", "--password", password)

    assert result.returncode == 1
    assert message in result.stderr
    assert "created" not in result.stdout
    assert not (tmp_path / "initial-admin-password").exists()
    assert count_rows(tmp_path, "auth_user") == 0
    assert count_rows(tmp_path, "accounts_organization") == 0


def test_init_takes_names_from_the_environment(tmp_path):
    out = ok(
        tmp_path,
        "init",
        "--noinput",
        CODEQUAL_ADMIN_USERNAME="alice",
        CODEQUAL_ADMIN_PASSWORD=STRONG_PASSWORD,
        CODEQUAL_ORGANIZATION="Acme Labs",
        CODEQUAL_PROJECT="Vision Models",
    )

    assert "Superuser 'alice': created." in out
    assert "Organization 'Acme Labs' (acme-labs): created." in out
    assert "Project 'Vision Models' (vision-models): created." in out
    # A password was given, so none is generated.
    assert not (tmp_path / "initial-admin-password").exists()
    assert ok(tmp_path, "token", "create", "--user", "alice", "--name", "x").startswith("cqb_")
