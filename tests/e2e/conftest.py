"""Browser-test fixtures: a freshly initialized install served by daphne, and headless Debian Chromium."""

import signal
import subprocess
from pathlib import Path

import pytest

from .helpers import CHROMIUM, CLI, PASSWORD, free_port, server_env, wait_until_healthy


@pytest.fixture
def server_extra_env() -> dict[str, str]:
    """Extra environment for the server process; a test module overrides it (e.g. SANDBOX_WORKERS)."""
    return {}


@pytest.fixture
def server(tmp_path, server_extra_env):
    """A freshly initialized install served by daphne on a free loopback port; yields its base URL."""
    env = {**server_env(tmp_path), **server_extra_env}
    init = subprocess.run(
        [CLI, "init", "--noinput", "--password", PASSWORD],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert init.returncode == 0, init.stderr
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    log = tmp_path / "server.log"
    with log.open("w") as log_file:
        process = subprocess.Popen(
            [CLI, "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_until_healthy(base_url, process, log)
        yield base_url
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@pytest.fixture
def page():
    sync_api = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM}")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-proxy-server"],
        )
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 800})
            page = context.new_page()
            page.set_default_timeout(15_000)
            yield page
        finally:
            browser.close()
