"""Error patterns and tuning in a real browser: a curator opens the patterns of a project whose evaluation (a
hand-made samples file on a custom suite) failed in several ways, annotates one pattern and merges another into it,
then opens a finished tuning job's page with its loss curve and resumes a failed job that the page follows live.
Screenshots go to test-artifacts/e2e/."""

import json
import re
from pathlib import Path

import pytest

from tests.tuning.conftest import CANONICAL, ROWS, SAMPLES

from .helpers import PASSWORD, manage_shell, server_env, shot

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

STEPS = 40

SETUP = """
import json
from django.conf import settings
from django.contrib.auth import get_user_model
from accounts import services
from accounts.models import Project
from errors.models import ErrorPattern
from evaluations.importers import source_from_bytes
from evaluations.runs.services import evaluation_create
from evaluations.services import suite_import
from models_registry.models import ModelEndpoint
from models_registry.services import model_endpoint_create
from tuning.hyperparameters import Hyperparameters
from tuning.models import TuningJob, TuningStep
from tuning.services import tuning_dataset_create

ROWS, SAMPLES, STEPS = json.loads(DATA)
User = get_user_model()
admin = User.objects.get(username="admin")
project = Project.objects.get(name="Default project")
curator = User.objects.create_user("curator", password=PASSWORD)
services.membership_create(actor=admin, project=project, user=curator, role="curator")

source = source_from_bytes("".join(json.dumps(r) + "\\n" for r in ROWS).encode(), "patterns-demo.jsonl")
suite_import(actor=curator, project=project, name="patterns-demo", source_format="custom", source=source)
settings.SAMPLES_DIR.mkdir(parents=True, exist_ok=True)
path = settings.SAMPLES_DIR / "patterns-demo.jsonl"
path.write_text("".join(json.dumps({"task_id": t, "completion": c}) + "\\n" for t, cs in SAMPLES.items() for c in cs))
model_endpoint_create(actor=curator, project=project, name="file", backend="samples", base_url=str(path))
config = {"models": ["file"], "problems": {"suite": "patterns-demo"}, "evaluation": {"samples_from_file": True}}
run = evaluation_create(actor=curator, project=project, config=config, name="failures")
run.refresh_from_db()
assert run.status == "completed", run.error_message

dataset = tuning_dataset_create(actor=curator, project=project, name="fixes", evaluations=[run])
base = ModelEndpoint.objects.create(project=project, name="tiny-hf", backend="hf", base_url="/nowhere/tiny")


def job(name, **fields):
    return TuningJob.objects.create(
        project=project, name=name, base_endpoint=base, dataset=dataset,
        hyperparameters=Hyperparameters().as_dict(), created_by=curator, **fields
    )


done = job("tiny-tuned", status="completed", stage="done", progress=1.0, current_step=STEPS, total_steps=STEPS,
           loss=2.4 / STEPS, validation_loss=2.6 / STEPS, metrics={"device": "cpu", "steps_per_second": 9.5})
TuningStep.objects.bulk_create(
    TuningStep(job=done, step=s, epoch=s / STEPS, loss=2.4 / s, validation_loss=2.6 / s if s % 10 == 0 else None,
               learning_rate=5e-5)
    for s in range(1, STEPS + 1)
)
failed = job("tiny-retry", status="failed", stage="loading", error_message="interrupted")
patterns = ErrorPattern.objects.filter(project=project, merged_into__isnull=True).count()
print(json.dumps({"project": project.pk, "patterns": patterns, "done": done.pk, "failed": failed.pk}))
"""


def prepare(tmp_path: Path) -> dict:
    rows = [
        {**row, **({"canonical_solution": CANONICAL[row["task_id"]]} if row["task_id"] in CANONICAL else {})}
        for row in ROWS
    ]
    data = json.dumps([rows, SAMPLES, STEPS])
    code = SETUP.replace("DATA", repr(data), 1).replace("PASSWORD", repr(PASSWORD))
    env = {**server_env(tmp_path), "CODEQUAL_INLINE_JOBS": "sync"}
    out = manage_shell(env, code)
    return json.loads(out.strip().splitlines()[-1])


def test_curator_annotates_and_merges_patterns_and_reads_a_loss_curve(server, page, tmp_path):
    from playwright.sync_api import expect

    ids = prepare(tmp_path)
    assert ids["patterns"] >= 3, ids
    console_errors = []
    page.on("console", lambda message: console_errors.append(message.text) if message.type == "error" else None)
    page.on("dialog", lambda dialog: dialog.accept())  # the merge button asks for confirmation

    page.goto(f"{server}/")
    page.fill("#id_username", "curator")
    page.fill("#id_password", PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("link", name="Default project").click()

    # The project's patterns, most frequent first.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Error patterns").click()
    expect(page.get_by_role("heading", name=re.compile("Error patterns"))).to_be_visible()
    rows = page.locator("#patterns tbody tr[data-pattern]")
    expect(rows).to_have_count(ids["patterns"])
    expect(page.locator("[data-metric=patterns]")).to_have_text(str(ids["patterns"]))
    expect(page.get_by_role("button", name="Recompute")).to_be_visible()
    shot(page, "patterns-01-list")

    # Open the second pattern; annotate it.
    rows.nth(1).get_by_role("link").click()
    expect(page.locator("#pattern-examples a.example-link").first).to_be_visible()
    target_url = page.url
    page.fill("#id_title", "Mixed types in arithmetic")
    page.fill("#id_notes", "The model adds a str to a number: <b>cast</b> first.")
    page.fill("#id_suggested_fix", "Show a few-shot example that converts before adding.")
    page.get_by_role("button", name="Save annotation").click()
    expect(page.locator(".flash")).to_contain_text("annotation survives re-analysis")
    expect(page.locator("#pattern-title")).to_contain_text("Mixed types in arithmetic")
    expect(page.locator("#pattern-notes")).to_have_text("The model adds a str to a number: <b>cast</b> first.")
    expect(page.locator("#pattern-fix")).to_have_text("Show a few-shot example that converts before adding.")
    shot(page, "patterns-02-annotated")

    # An example opens in the sample viewer.
    page.locator("#pattern-examples a.example-link").first.click()
    expect(page.locator("#verdict")).not_to_have_text("Passed")
    page.go_back()

    # Merge the third pattern into the annotated one.
    page.goto(f"{server}/projects/{ids['project']}/patterns/")
    rows.nth(2).get_by_role("link").click()
    merged_url = page.url
    before = int(page.locator("#pattern-frequency").inner_text())
    choice = page.locator("#id_into option", has_text="Mixed types in arithmetic").get_attribute("value")
    page.select_option("#id_into", choice)
    page.get_by_role("button", name="Merge").click()
    expect(page).to_have_url(target_url)
    expect(page.locator(".flash")).to_contain_text("into this pattern")
    shot(page, "patterns-03-merged")
    page.goto(merged_url)
    expect(page.locator("#merged-into")).to_contain_text("Mixed types in arithmetic")
    expect(page.locator("#annotate")).to_have_count(0)
    page.goto(f"{server}/projects/{ids['project']}/patterns/")
    expect(rows).to_have_count(ids["patterns"] - 1)
    assert before > 0

    # Tuning: the jobs of the project, then the finished job's loss curve.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Tuning").click()
    expect(page.locator(f"#tuning-jobs tr[data-job='{ids['done']}']")).to_contain_text("completed")
    shot(page, "tuning-01-jobs")
    page.get_by_role("link", name="tiny-tuned").click()
    expect(page.locator("#loss-curve[data-rendered=true]")).to_have_count(1, timeout=30_000)
    points = page.evaluate("[0, 1].map((i) => document.getElementById('loss-curve').data[i].x.length)")
    assert points == [STEPS, STEPS // 10]
    expect(page.locator("#live-status")).to_have_text("completed")
    expect(page.locator("#tuning-step")).to_have_text(str(STEPS))
    expect(page.get_by_role("button", name=re.compile("Cancel|Resume"))).to_have_count(0)
    shot(page, "tuning-02-job-loss-curve")

    # The dataset it was trained on: counts per error type and export links.
    page.locator("dl.facts").get_by_role("link", name=re.compile("fixes v1")).click()
    expect(page.locator("#dataset-categories tbody tr")).not_to_have_count(0)
    expect(page.get_by_role("link", name="Train, sft")).to_be_visible()
    shot(page, "tuning-03-dataset")

    # Resume a failed job: the page follows it to its end (it fails again: no such checkpoint) without a reload.
    page.goto(f"{server}/tuning/{ids['failed']}/")
    page.get_by_role("button", name="Resume").click()
    expect(page.locator(".flash")).to_contain_text("resumed")
    page.evaluate("window.__sameDocument = true")
    expect(page.locator("#live-status")).to_have_text("failed", timeout=60_000)
    expect(page.locator("#live-error")).to_contain_text("outside")
    expect(page.get_by_role("button", name="Cancel")).to_have_count(0)
    assert page.evaluate("window.__sameDocument === true")
    shot(page, "tuning-04-resumed-and-failed")
    assert not [e for e in console_errors if "Content Security Policy" in e], console_errors
