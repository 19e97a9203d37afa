"""The tuning API: datasets (build, list, export), jobs (create, status with loss curve, cancel, resume, compare,
list), the tenant mixin on both viewsets, and who may follow a job's live channel."""

import json

import pytest

from accounts.choices import ProjectRole
from codequal.realtime import user_may_follow
from tuning.models import TuningJob

from .conftest import FAST_HYPERPARAMETERS
from .helpers import dataset_in, job_in
from .tenancy import TenantViewSetChecks


class TestTuningJobTenancy(TenantViewSetChecks):
    basename = "tuning-job"
    write = ("post", "cancel")

    def make(self, world):
        return job_in(world.a)


class TestTuningDatasetTenancy(TenantViewSetChecks):
    basename = "tuning-dataset"
    write = ("delete", "detail")

    def make(self, world):
        return dataset_in(world.a)


@pytest.mark.django_db
def test_only_members_may_follow_a_jobs_channel(world):
    job = job_in(world.a)
    assert user_may_follow(world.a.user(ProjectRole.VIEWER), f"tuning:{job.pk}")
    assert not user_may_follow(world.b.user(ProjectRole.OWNER), f"tuning:{job.pk}")


@pytest.mark.django_db(transaction=True)
def test_build_a_dataset_tune_and_compare_through_the_api(api, world, failing_evaluation, base_endpoint):
    api.force_authenticate(world.a.user(ProjectRole.EVALUATOR))
    project = world.a.project.pk
    response = api.post(
        "/api/v1/tuning/datasets",
        {
            "project": project,
            "name": "api-data",
            "evaluations": [failing_evaluation.pk],
            "errors": ["syntax", "type_error", "name"],
            "held_out_fraction": 0.34,
            "seed": 1,
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    dataset = response.json()
    assert dataset["version"] == 1 and dataset["train_count"] > 0 and dataset["held_out_count"] > 0
    assert dataset["options"]["errors"] == ["syntax", "type_error", "name"]
    export = api.get(f"/api/v1/tuning/datasets/{dataset['id']}/export?split=train&format=sft")
    assert export.status_code == 200 and export["Content-Type"] == "application/jsonl"
    lines = [json.loads(line) for line in export.content.decode().splitlines()]
    assert len(lines) == dataset["train_count"] and set(lines[0]) == {"input", "output", "error_type", "difficulty"}
    bad = api.post(
        "/api/v1/tuning/datasets",
        {"project": project, "name": "x", "evaluations": [failing_evaluation.pk], "errors": ["nope"]},
        format="json",
    )
    assert bad.status_code == 400 and "Unknown error name" in bad.json()["message"]

    body = {
        "project": project,
        "dataset": dataset["id"],
        "base_model": base_endpoint.pk,
        "name": "api-tuned",
        "hyperparameters": {**FAST_HYPERPARAMETERS, "epochs": 4},
    }
    created = api.post("/api/v1/tuning", body, format="json")
    assert created.status_code == 201, created.content
    job_id = created.json()["id"]
    assert created.json()["channel"] == f"tuning:{job_id}"
    status = api.get(f"/api/v1/tuning/{job_id}").json()
    assert status["status"] == "completed", status["error_message"]
    assert len(status["loss_curve"]) == status["total_steps"] and status["comparison"] is None
    assert status["resulting_endpoint"]["name"] == "api-tuned" and status["base_model"]["backend"] == "hf"
    assert api.post(f"/api/v1/tuning/{job_id}/cancel").status_code == 409
    assert api.post(f"/api/v1/tuning/{job_id}/resume").status_code == 409
    listed = api.get("/api/v1/tuning?status=completed").json()
    assert [row["id"] for row in listed["results"]] == [job_id]
    again = api.post("/api/v1/tuning", body, format="json")
    assert again.status_code == 409, "the tuned endpoint's name is taken"

    compared = api.post(f"/api/v1/tuning/{job_id}/compare", {"generation": {"max_tokens": 16}}, format="json")
    assert compared.status_code == 201, compared.content
    comparison = api.get(f"/api/v1/tuning/{job_id}").json()["comparison"]
    assert comparison["evaluation"] == compared.json()["evaluation"]
    assert comparison["status"] == "completed"
    assert comparison["result"]["problems"] == len(dataset["held_out_problems"])
    assert TuningJob.objects.get(pk=job_id).comparison_evaluation_id == comparison["evaluation"]
    # A dataset a job was trained on stays.
    assert api.delete(f"/api/v1/tuning/datasets/{dataset['id']}").status_code == 409


@pytest.mark.django_db
def test_creating_under_another_tenants_project_or_dataset_is_refused(api, world):
    dataset = dataset_in(world.a)
    api.force_authenticate(world.b.user(ProjectRole.OWNER))
    body = {"project": world.b.project.pk, "dataset": dataset.pk, "base_model": 1, "name": "x"}
    response = api.post("/api/v1/tuning", body, format="json")
    assert response.status_code == 400 and "does not exist" in str(response.json()["extra"]["fields"]["dataset"])
    body = {"project": world.a.project.pk, "name": "x", "evaluations": [1]}
    response = api.post("/api/v1/tuning/datasets", body, format="json")
    assert response.status_code == 400 and "project" in response.json()["extra"]["fields"]
