"""The evaluation flow in a real browser: register the ``reference`` model, start a run from the portal, watch its
progress arrive over the WebSocket without a reload, read the results and a sample, export CSV; then a viewer sees
no create action and another tenant's run answers 404. Screenshots of each page go to test-artifacts/e2e/."""

import csv
import io
import json
import re
from pathlib import Path

import pytest

from .helpers import PASSWORD, manage_shell, server_env, shot, sign_in

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

# One sandbox runner and one problem per chunk: the run takes several seconds and reports progress per problem.
SLOW_RUN = {"SANDBOX_WORKERS": "1"}
PROBLEMS = 12
SAMPLES = 2

SETUP = """
import json
from django.contrib.auth import get_user_model
from accounts import services
from accounts.models import Project
from evaluations.runs.services import evaluation_create
from models_registry.services import model_endpoint_create

User = get_user_model()
admin = User.objects.get(username="admin")
project = Project.objects.get(name="Default project")
viewer = User.objects.create_user("viewer", password=PASSWORD)
services.membership_create(actor=admin, project=project, user=viewer, role="viewer")
other = User.objects.create_user("other", password=PASSWORD)
organization = services.organization_create(actor=other, name="Other org")
theirs = services.project_create(actor=other, organization=organization, name="Other project")
model_endpoint_create(actor=other, project=theirs, name="reference", backend="reference")
run = evaluation_create(
    actor=other, project=theirs, config={"models": ["reference"], "problems": {"suite": "humaneval", "range": "0"}}
)
print(json.dumps({"other_evaluation": run.pk}))
"""


@pytest.fixture
def server_extra_env():
    return SLOW_RUN


def prepare(tmp_path: Path) -> dict:
    """A viewer in the default project, and another organization with an evaluation of its own."""
    env = {**server_env(tmp_path), **SLOW_RUN, "CODEQUAL_INLINE_JOBS": "sync"}
    out = manage_shell(env, SETUP.replace("PASSWORD", repr(PASSWORD)))
    return json.loads(out.strip().splitlines()[-1])


def add_model(page, server: str, name: str) -> None:
    from playwright.sync_api import expect

    page.get_by_role("link", name="Add model").click()
    page.fill("#id_name", name)
    page.select_option("#id_backend", "reference")
    page.get_by_role("button", name="Add model").click()
    expect(page.locator(".flash")).to_contain_text(f"Model “{name}” added.")
    expect(page.locator(f"tr[data-model='{name}']")).to_have_count(1)


def test_evaluation_flow_live_progress_results_export_and_roles(server, page, tmp_path):
    from playwright.sync_api import expect

    ids = prepare(tmp_path)
    console_errors = []
    page.on("console", lambda message: console_errors.append(message.text) if message.type == "error" else None)

    # Sign in, open the project's dashboard.
    page.goto(f"{server}/")
    sign_in(page, PASSWORD)
    page.get_by_role("link", name="Default project").click()
    expect(page.get_by_role("heading", name=re.compile("Default project"))).to_be_visible()
    expect(page.locator("[data-metric=evaluations]")).to_have_text("0")
    dashboard_url = page.url
    shot(page, "portal-01-dashboard-empty")

    # Models: register two reference endpoints (no model server needed) and test one.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Models").click()
    add_model(page, server, "reference")
    add_model(page, server, "reference-b")
    page.locator("tr[data-model='reference']").get_by_role("button", name="Test connection").click()
    expect(page.locator(".flash")).to_contain_text("reference: connection works")
    expect(page.locator("tr[data-model='reference'] .health")).to_have_text("Healthy")
    shot(page, "portal-02-models")

    # New evaluation: a bad range is named next to its field, the form keeps what was typed.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="New evaluation").click()
    page.get_by_label("reference (Reference solutions (harness self-check))").check()
    page.get_by_label("reference-b (Reference solutions (harness self-check))").check()
    page.fill("#id_problem_range", "9-3")
    page.get_by_role("button", name="Start evaluation").click()
    expect(page.locator("[data-field=problem_range] .error")).to_contain_text("the range ends before it starts")
    shot(page, "portal-03-new-evaluation-inline-error")

    page.fill("#id_problem_range", f"0-{PROBLEMS - 1}")
    page.fill("#id_samples_per_problem", str(SAMPLES))
    page.fill("#id_chunk_size", "1")
    page.fill("#id_k", "1,2")
    page.get_by_role("button", name="Start evaluation").click()
    expect(page).to_have_url(re.compile(r"/evaluations/\d+/$"))
    evaluation_url = page.url
    total = PROBLEMS * SAMPLES * 2
    expect(page.locator("#live-total")).to_have_text(str(total))

    # Live: progress and result events arrive over the WebSocket while the page stays loaded.
    page.evaluate("window.__sameDocument = true")
    three_or_more = re.compile(r"^([3-9]|[1-9][0-9]+)$")
    expect(page.locator("#live")).to_have_attribute("data-live-events", three_or_more, timeout=60_000)
    shot(page, "portal-04-evaluation-live")
    expect(page.locator("#live-status")).to_have_text("completed", timeout=120_000)
    assert page.evaluate("window.__sameDocument === true"), "the page reloaded instead of updating live"
    assert int(page.locator("#live-events").inner_text()) >= 3
    assert page.locator("#live-results tr").count() >= 1
    expect(page.locator("#live-completed")).to_have_text(str(total))
    expect(page.locator("#live-model")).to_have_text(re.compile(r"^reference"))
    shot(page, "portal-05-evaluation-live-done")

    # Results (the page renders them once the run is done).
    page.get_by_role("link", name="Show results").click()
    expect(page.locator("#pass-at-k tr[data-model='reference']")).to_contain_text("pass@1 1.000")
    expect(page.locator("#pass-at-k tr[data-model='reference-b']")).to_contain_text("pass@2 1.000")
    expect(page.locator("#chart-heat-map[data-rendered=true]")).to_have_count(1, timeout=30_000)
    expect(page.locator("#chart-pass-at-k-data")).to_have_count(1)
    shot(page, "portal-06-results")

    # Export CSV: one row per sample, all passed.
    with page.expect_download() as download_info:
        page.get_by_role("link", name="CSV", exact=True).click()
    csv_path = tmp_path / "export.csv"
    download_info.value.save_as(csv_path)
    rows = list(csv.DictReader(io.StringIO(csv_path.read_text())))
    assert len(rows) == total
    assert {r["model"] for r in rows} == {"reference", "reference-b"}
    assert all(r["passed"] == "True" for r in rows)

    # A sample: prompt and highlighted code.
    page.locator("a.sample-link").first.click()
    expect(page.locator("#verdict")).to_have_text("Passed")
    expect(page.locator("pre.code").nth(1).locator("span.k").first).to_be_visible()
    shot(page, "portal-07-sample")

    # Compare and errors pages of the same run.
    page.goto(f"{evaluation_url}compare/")
    expect(page.locator("#paired tr[data-model='reference-b'] .p-value")).to_have_text("1.0000")
    shot(page, "portal-08-compare")
    page.goto(f"{evaluation_url}errors/")
    expect(page.locator("#error-table")).to_contain_text("No failures")
    shot(page, "portal-09-errors")
    page.goto(dashboard_url)
    expect(page.locator("[data-metric=evaluations]")).to_have_text("1")
    expect(page.locator("[data-metric=best]")).to_have_text("1.000")
    expect(page.locator("#trend[data-rendered=true]")).to_have_count(1, timeout=30_000)
    shot(page, "portal-10-dashboard")
    assert not [e for e in console_errors if "Content Security Policy" in e], console_errors

    # A viewer: no create or edit actions, and another tenant's evaluation is a 404.
    page.get_by_role("button", name="Sign out").click()
    page.fill("#id_username", "viewer")
    page.fill("#id_password", PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.goto(dashboard_url)
    expect(page.get_by_role("heading", name=re.compile("Default project"))).to_be_visible()
    expect(page.get_by_role("link", name="New evaluation")).to_have_count(0)
    page.goto(evaluation_url)
    expect(page.locator("#pass-at-k")).to_be_visible()
    expect(page.get_by_role("button", name=re.compile("Cancel|Resume"))).to_have_count(0)
    page.goto(f"{dashboard_url}models/")
    expect(page.get_by_role("link", name="Add model")).to_have_count(0)
    expect(page.get_by_role("button", name="Test connection")).to_have_count(0)
    shot(page, "portal-11-viewer")
    response = page.goto(f"{dashboard_url}evaluations/new/")
    assert response.status == 403
    response = page.goto(f"{server}/evaluations/{ids['other_evaluation']}/")
    assert response.status == 404
    shot(page, "portal-12-viewer-other-tenant-404")
