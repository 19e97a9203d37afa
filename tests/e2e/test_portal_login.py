"""The portal in a real browser: Chromium against ``codequalbench serve`` (daphne) on a fresh embedded install."""

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]

PASSWORD = "violet-anchor-thermos-42"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "e2e"
CHROMIUM = "/usr/bin/chromium"
CLI = str(Path(sys.executable).parent / "codequalbench")
# No proxy anywhere: every request of this test goes to the loopback server it started.
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


@pytest.fixture
def server(tmp_path):
    """A freshly initialized install served by daphne on a free loopback port; yields its base URL."""
    env = server_env(tmp_path)
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


def shot(page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def sign_in(page, password: str) -> None:
    page.fill("#id_username", "admin")
    page.fill("#id_password", password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()


def test_sign_in_tokens_and_sign_out(server, page):
    from playwright.sync_api import expect

    page.goto(f"{server}/")
    expect(page).to_have_url(re.compile(r"/login/\?next=/$"))
    shot(page, "01-login")

    sign_in(page, "not-the-password")
    expect(page).to_have_url(re.compile(r"/login/"))
    expect(page.get_by_role("alert")).to_contain_text("enter a correct username and password")
    shot(page, "02-login-wrong-password")

    sign_in(page, PASSWORD)
    expect(page).to_have_url(f"{server}/")
    expect(page.get_by_role("heading", name="Your projects")).to_be_visible()
    expect(page.locator("h2")).to_contain_text("Default organization")
    row = page.locator("tr", has_text="Default project")
    expect(row).to_have_count(1)
    expect(row.locator(".role")).to_have_text("owner")
    shot(page, "03-home")

    page.get_by_role("link", name="API tokens").click()
    expect(page).to_have_url(f"{server}/tokens/")
    expect(page.get_by_text("No tokens yet.")).to_be_visible()
    page.fill("#id_name", "e2e laptop")
    page.get_by_role("button", name="Create token").click()
    new_token = page.locator("#new-token")
    expect(new_token).to_have_text(re.compile(r"^cqb_[A-Za-z0-9_-]{40,}$"))
    key = new_token.inner_text().strip()
    shot(page, "04-token-created")

    status, body = http_get(f"{server}/api/v1/auth/me", token=key)
    assert status == 200, body
    assert json.loads(body)["username"] == "admin"

    # Shown once: a fresh load of the page lists the token by its prefix only.
    page.goto(f"{server}/tokens/")
    expect(page.locator("#new-token")).to_have_count(0)
    assert key not in page.content()
    row = page.locator("tr", has_text="e2e laptop")
    expect(row).to_contain_text(f"{key[:12]}…")
    expect(row.locator("td").nth(5)).to_have_text("active")
    shot(page, "05-token-listed")

    row.get_by_role("button", name="Revoke").click()
    expect(page).to_have_url(f"{server}/tokens/")
    expect(page.locator(".flash")).to_contain_text("revoked")
    row = page.locator("tr", has_text="e2e laptop")
    expect(row.locator("td").nth(5)).to_have_text("revoked")
    expect(row.get_by_role("button", name="Revoke")).to_have_count(0)
    shot(page, "06-token-revoked")

    status, _ = http_get(f"{server}/api/v1/auth/me", token=key)
    assert status == 401

    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile(r"/login/$"))
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    shot(page, "07-signed-out")
    page.goto(f"{server}/tokens/")
    expect(page).to_have_url(re.compile(r"/login/\?next=/tokens/$"))
