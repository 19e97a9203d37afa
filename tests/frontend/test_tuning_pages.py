"""Tuning pages: jobs and datasets of a project, a job's status and loss curve, the tuned-vs-original comparison,
the new-job form with inline errors; cancel and resume for evaluators only; other tenants get 404s."""

import pytest
from django.urls import reverse

from accounts.choices import AuditAction, ProjectRole
from accounts.models import AuditLog
from frontend.portal import CONTENT_SECURITY_POLICY
from models_registry.models import ModelEndpoint
from tests.tuning.helpers import dataset_in, job_in
from tuning.models import TuningJob, TuningStep

pytestmark = pytest.mark.django_db

LIST_QUERY_CAP = 10
DETAIL_QUERY_CAP = 12
COMPARISON_QUERY_CAP = DETAIL_QUERY_CAP + 4
STEPS = 10


def finished_job(tenant, name: str = "tuned") -> TuningJob:
    """A completed job with ten recorded steps (falling loss, validation every fifth step): rows only, no training."""
    job = job_in(tenant, name=name)
    TuningStep.objects.bulk_create(
        TuningStep(
            job=job,
            step=step,
            epoch=step / STEPS,
            loss=2.0 / step,
            validation_loss=2.5 / step if step % 5 == 0 else None,
            learning_rate=5e-5,
        )
        for step in range(1, STEPS + 1)
    )
    TuningJob.objects.filter(pk=job.pk).update(
        status="completed",
        stage="done",
        progress=1.0,
        current_step=STEPS,
        total_steps=STEPS,
        loss=0.2,
        validation_loss=0.25,
        metrics={"device": "cpu", "steps_per_second": 12.5},
    )
    job.refresh_from_db()
    return job


def test_job_list_and_detail_with_the_loss_curve(client, world, django_assert_max_num_queries):
    job = finished_job(world.a)
    finished_job(world.b, name="theirs")
    client.force_login(world.a.user(ProjectRole.VIEWER))
    with django_assert_max_num_queries(LIST_QUERY_CAP):
        listing = client.get(reverse("frontend:tuning-jobs", args=[world.a.project.pk]))
    assert listing.status_code == 200 and listing["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    assert [j.pk for j in listing.context["page"].object_list] == [job.pk]
    assert "New tuning job" not in listing.content.decode()
    assert (
        client.get(reverse("frontend:tuning-jobs", args=[world.a.project.pk]), {"status": "running"})
        .context["page"]
        .paginator.count
        == 0
    )

    with django_assert_max_num_queries(DETAIL_QUERY_CAP):
        response = client.get(reverse("frontend:tuning-job", args=[job.pk]))
    assert response.status_code == 200
    training, validation = response.context["figure"]["data"]
    assert training["x"] == list(range(1, STEPS + 1)) and training["y"][0] == 2.0
    assert validation["x"] == [5, 10] and validation["y"] == [0.5, 0.25]
    state = response.context["live_state"]
    assert state["channel"] == f"tuning:{job.pk}" and state["finished"] and state["last_step"] == STEPS
    assert state["api_url"] == f"/api/v1/tuning/{job.pk}"
    page = response.content.decode()
    assert 'id="loss-curve-data" type="application/json"' in page and "<script>" not in page.split("</head>")[1]
    assert "Cancel" not in page and "Resume" not in page and "Evaluate tuned vs original" not in page


def test_comparison_of_tuned_and_original_links_to_the_compare_page(
    client, portal_world, finished_run, django_assert_max_num_queries
):
    project = portal_world.a.project
    job = finished_job(portal_world.a)
    endpoints = {e.name: e for e in ModelEndpoint.objects.filter(project=project)}
    # The run of "reference" and "reference-b" stands in for an original and its tuned model.
    TuningJob.objects.filter(pk=job.pk).update(
        base_endpoint=endpoints["reference"],
        resulting_endpoint=endpoints["reference-b"],
        comparison_evaluation=finished_run,
    )
    client.force_login(portal_world.a.user(ProjectRole.VIEWER))
    with django_assert_max_num_queries(COMPARISON_QUERY_CAP):
        response = client.get(reverse("frontend:tuning-job", args=[job.pk]))
    comparison = response.context["comparison"]
    assert (comparison["original"], comparison["tuned"]) == ("reference", "reference-b")
    assert comparison["result"].problems == 5 and comparison["result"].difference == 0
    assert comparison["result"].p_value == 1.0
    assert comparison["compare_url"].startswith(reverse("frontend:compare", args=[finished_run.pk]) + "?models=")
    assert "Tuned vs original" in response.content.decode()


def test_cancel_and_resume_are_for_evaluators(client, world, django_capture_on_commit_callbacks):
    job = job_in(world.a)  # pending
    url = reverse("frontend:tuning-job", args=[job.pk])
    client.force_login(world.a.user(ProjectRole.VIEWER))
    assert client.post(reverse("frontend:tuning-job-cancel", args=[job.pk])).status_code == 404
    client.force_login(world.b.user(ProjectRole.OWNER))
    assert client.get(url).status_code == 404
    assert client.post(reverse("frontend:tuning-job-cancel", args=[job.pk])).status_code == 404

    evaluator = world.a.user(ProjectRole.EVALUATOR)
    client.force_login(evaluator)
    page = client.get(url).content.decode()
    assert "Cancel" in page and "Resume" not in page
    with django_capture_on_commit_callbacks(execute=False):  # nothing is trained here
        response = client.post(reverse("frontend:tuning-job-cancel", args=[job.pk]), follow=True)
    job.refresh_from_db()
    assert job.status == "cancelled" and "Tuning job cancelled" in response.content.decode()
    assert "Resume" in response.content.decode()
    with django_capture_on_commit_callbacks(execute=False):
        client.post(reverse("frontend:tuning-job-resume", args=[job.pk]))
        again = client.post(reverse("frontend:tuning-job-resume", args=[job.pk]), follow=True)
    job.refresh_from_db()
    assert job.status == "pending"
    assert "only failed or cancelled jobs can be resumed" in again.content.decode()
    actions = list(AuditLog.objects.filter(project=world.a.project).values_list("action", flat=True).order_by("pk"))
    assert actions[-2:] == [AuditAction.TUNING_JOB_CANCELLED, AuditAction.TUNING_JOB_RESUMED]


def test_datasets_list_and_detail_with_counts_and_exports(client, world, django_assert_max_num_queries):
    dataset = dataset_in(world.a, name="fixes")
    dataset.counts = {
        "examples": {"train": 7, "held_out": 2},
        "problems": {"train": 4, "held_out": 1},
        "by_error_type": {"semantic.type_error": {"train": 5, "held_out": 1}, "syntax": {"train": 2, "held_out": 1}},
        "skipped": {"no_passing_solution": 3},
    }
    dataset.options = {"strategy": "error_specific", "errors": ["type_error", "syntax"], "repair": False}
    dataset.save()
    theirs = dataset_in(world.b, name="theirs")
    client.force_login(world.a.user(ProjectRole.VIEWER))
    with django_assert_max_num_queries(LIST_QUERY_CAP):
        listing = client.get(reverse("frontend:tuning-datasets", args=[world.a.project.pk]))
    assert [d.pk for d in listing.context["page"].object_list] == [dataset.pk]
    with django_assert_max_num_queries(DETAIL_QUERY_CAP):
        response = client.get(reverse("frontend:tuning-dataset", args=[dataset.pk]))
    assert response.status_code == 200
    assert response.context["by_error_type"][0] == ("semantic.type_error", {"train": 5, "held_out": 1})
    assert ("errors", "type_error, syntax") in response.context["options"]
    page = response.content.decode()
    assert f"/api/v1/tuning/datasets/{dataset.pk}/export?split=held_out&amp;format=preference" in page
    assert client.get(reverse("frontend:tuning-dataset", args=[theirs.pk])).status_code == 404
    assert client.get(reverse("frontend:tuning-datasets", args=[world.b.project.pk])).status_code == 404


def test_new_job_shows_errors_inline_then_queues(client, world, django_capture_on_commit_callbacks):
    project = world.a.project
    dataset = dataset_in(world.a)
    base = ModelEndpoint.objects.create(project=project, name="tiny", backend="hf", base_url="/nowhere/tiny")
    ModelEndpoint.objects.create(project=project, name="taken", backend="reference")
    url = reverse("frontend:tuning-job-new", args=[project.pk])
    client.force_login(world.a.user(ProjectRole.VIEWER))
    assert client.get(url).status_code == 403
    client.force_login(world.a.user(ProjectRole.EVALUATOR))
    form = client.get(url).context["form"]
    assert [e.name for e in form.fields["base_model"].queryset] == ["tiny"]  # hf endpoints only
    data = {
        "name": "taken",
        "base_model": base.pk,
        "dataset": dataset.pk,
        "learning_rate": 5,
        "epochs": 1,
        "batch_size": 2,
        "warmup_steps": 0,
        "max_steps": 0,
        "lora_r": 4,
        "lora_alpha": 8,
    }
    response = client.post(url, data)
    assert response.status_code == 200 and "exists already" in response.context["form"].errors["name"][0]
    data["name"] = "tiny-tuned"
    response = client.post(url, data)
    assert response.context["form"].errors["learning_rate"] == ["Must be between 1e-08 and 1."]
    data["learning_rate"] = 1e-3
    data["base_model"] = 999_999
    assert "base_model" in client.post(url, data).context["form"].errors
    assert not TuningJob.objects.exists()

    data["base_model"] = base.pk
    with django_capture_on_commit_callbacks(execute=False):  # queued, not trained
        response = client.post(url, data)
    job = TuningJob.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse("frontend:tuning-job", args=[job.pk])
    assert job.hyperparameters["learning_rate"] == 1e-3 and job.hyperparameters["lora_r"] == 4
    assert job.created_by == world.a.user(ProjectRole.EVALUATOR)
