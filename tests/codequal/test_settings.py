"""Settings from the environment, checked in fresh interpreters (settings are read once per process)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PROBE = """
import json, django
from django.conf import settings
django.setup()
print(json.dumps({
    "engine": settings.DATABASES["default"]["ENGINE"],
    "name": str(settings.DATABASES["default"]["NAME"]),
    "layer": settings.CHANNEL_LAYERS["default"]["BACKEND"],
    "queues": sorted(settings.RQ_QUEUES),
    "cache": settings.CACHES["default"]["BACKEND"],
    "secret": settings.SECRET_KEY,
    "debug": settings.DEBUG,
    "data_dir": str(settings.DATA_DIR),
}))
"""


def probe(tmp_path, **env):
    clean = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL", "SECRET_KEY", "DEBUG"}}
    clean.update(
        DJANGO_SETTINGS_MODULE="codequal.settings",
        CODEQUAL_DATA_DIR=str(tmp_path / "data"),
        CODEQUAL_ENV_FILE=str(tmp_path / "no.env"),
        **env,
    )
    done = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=ROOT, env=clean, capture_output=True, text=True, timeout=60
    )
    return done.returncode, (json.loads(done.stdout) if done.returncode == 0 else done.stderr)


def test_embedded_default_with_no_variables(tmp_path):
    code, cfg = probe(tmp_path)
    assert code == 0, cfg
    assert cfg["engine"] == "django.db.backends.sqlite3"
    assert cfg["name"] == str(tmp_path / "data" / "codequal.sqlite3")
    assert cfg["layer"] == "channels.layers.InMemoryChannelLayer"
    assert cfg["queues"] == []
    assert cfg["debug"] is True
    key_file = tmp_path / "data" / "secret_key"
    assert key_file.stat().st_mode & 0o777 == 0o600
    assert cfg["secret"] == key_file.read_text().strip() and len(cfg["secret"]) >= 50
    # The generated key is stable across restarts.
    assert probe(tmp_path)[1]["secret"] == cfg["secret"]


def test_database_and_redis_urls(tmp_path):
    code, cfg = probe(
        tmp_path, DATABASE_URL="postgres://postgres@127.0.0.1:5432/somedb", REDIS_URL="redis://127.0.0.1:6379/3"
    )
    assert code == 0, cfg
    assert cfg["engine"] == "django.db.backends.postgresql"
    assert cfg["name"] == "somedb"
    assert cfg["layer"] == "channels_redis.core.RedisChannelLayer"
    assert cfg["queues"] == ["default", "gpu"]
    assert cfg["cache"] == "django.core.cache.backends.redis.RedisCache"


@pytest.mark.parametrize(
    ("secret", "expected"),
    [
        (None, "SECRET_KEY must be set when DEBUG is off"),
        ("change-me-to-a-long-random-string-before-running-in-production", "Refusing to start"),
        ("short", "Refusing to start"),
    ],
)
def test_production_mode_refuses_missing_or_example_key(tmp_path, secret, expected):
    env = {"DEBUG": "false"}
    if secret is not None:
        env["SECRET_KEY"] = secret
    code, err = probe(tmp_path, **env)
    assert code != 0
    assert "ImproperlyConfigured" in err and expected in err


def test_production_mode_with_a_real_key(tmp_path):
    key = "k" * 20 + "-a-real-and-long-production-secret-value"
    code, cfg = probe(tmp_path, DEBUG="false", SECRET_KEY=key)
    assert code == 0, cfg
    assert cfg["debug"] is False and cfg["secret"] == key
    assert not (tmp_path / "data" / "secret_key").exists()


def test_example_env_file_documents_every_setting():
    example = (ROOT / ".env.example").read_text()
    documented = {line.split("=", 1)[0].lstrip("# ").strip() for line in example.splitlines() if "=" in line}
    source = (ROOT / "codequal" / "settings.py").read_text()
    import re

    read = set(re.findall(r'env\.\w+\(\s*"([A-Z_]+)"', source)) | set(re.findall(r'env\.db\("([A-Z_]+)"', source))
    read |= set(re.findall(r'os\.environ\.get\("([A-Z_]+)"', source))
    assert read, "the pattern found no settings"
    missing = read - documented
    assert not missing, f"settings read but not documented in .env.example: {sorted(missing)}"
    assert "change-me-to-a-long-random-string-before-running-in-production" in example
