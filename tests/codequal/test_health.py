import os
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.django_db
def test_health_is_cheap_and_anonymous(client):
    response = client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.django_db
def test_ready_checks_the_database(client, settings):
    settings.REDIS_URL = ""
    response = client.get("/ready")
    assert response.status_code == 200
    assert response.json()["checks"]["database"]["ok"] is True
    assert "redis" not in response.json()["checks"]


@pytest.mark.django_db
def test_ready_fails_when_redis_is_unreachable(client, settings):
    settings.REDIS_URL = "redis://:secret-password@127.0.0.1:1/0"
    response = client.get("/ready")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["checks"]["redis"] == {"ok": False, "error": "ConnectionError"}
    assert "secret-password" not in response.content.decode()


@pytest.mark.django_db
@pytest.mark.redis
def test_ready_with_real_redis(client):
    response = client.get("/ready")
    assert response.status_code == 200
    assert response.json()["checks"]["redis"] == {"ok": True}


def test_status_reports_an_unreachable_database(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE"}}
    env.update(CODEQUAL_DATA_DIR=str(tmp_path), DATABASE_URL="postgres://postgres@127.0.0.1:1/nothing")
    cli = Path(sys.executable).with_name("codequalbench")
    done = subprocess.run([str(cli), "status"], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "database       : FAILED (OperationalError)" in done.stdout
