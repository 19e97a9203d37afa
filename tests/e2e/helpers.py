"""Helpers shared by the browser tests: the server's environment, HTTP on loopback, screenshots, sign-in."""

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

PASSWORD = "violet-anchor-thermos-42"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "e2e"
CHROMIUM = "/usr/bin/chromium"
CLI = str(Path(sys.executable).parent / "codequalbench")
# No proxy anywhere: every request of these tests goes to the loopback server they started.
NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def server_env(data_dir: Path) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE", "SECRET_KEY", "DEBUG"}
        and not key.startswith("CODEQUAL_")
        and "proxy" not in key.lower()
    }
    env.update(CODEQUAL_DATA_DIR=str(data_dir), CODEQUAL_ENV_FILE=str(data_dir / "no.env"))
    return env


def http_get(url: str, token: str | None = None) -> tuple[int, bytes]:
    assert url.startswith("http://127.0.0.1:"), url
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    request = urllib.request.Request(url, headers=headers)  # noqa: S310 - loopback http only, asserted above
    try:
        with NO_PROXY.open(request, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def wait_until_healthy(base_url: str, process: subprocess.Popen, log: Path, deadline_s: float = 60) -> None:
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the server exited with {process.returncode}:\n{log.read_text()}")
        try:
            if http_get(f"{base_url}/health")[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    pytest.fail(f"the server did not answer /health within {deadline_s}s:\n{log.read_text()}")


def shot(page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def sign_in(page, password: str) -> None:
    page.fill("#id_username", "admin")
    page.fill("#id_password", password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()


def manage_shell(env: dict[str, str], code: str) -> str:
    """Run Python in the server's installation (``codequalbench manage shell``) and return what it printed."""
    done = subprocess.run(
        [CLI, "manage", "shell", "--no-imports", "-c", code],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout
