"""The portal in a real browser: Chromium against ``codequalbench serve`` (daphne) on a fresh embedded install."""

import json
import re

import pytest

from .helpers import PASSWORD, http_get, shot, sign_in

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]


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
