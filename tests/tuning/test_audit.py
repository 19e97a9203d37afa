"""Tuning writes leave audit entries: a dataset built, a job started, cancelled and resumed."""

import pytest

from accounts.choices import AuditAction, ProjectRole
from accounts.models import AuditLog
from codequal.exceptions import ApplicationError, ConflictError
from models_registry.models import ModelEndpoint
from tuning import services

from .helpers import dataset_in, job_in


def entries(project, prefix: str = "tuning_") -> list[AuditLog]:
    return list(AuditLog.objects.filter(project=project, action__startswith=prefix).order_by("pk"))


@pytest.mark.django_db(transaction=True)
def test_building_a_dataset_is_audited(world, failing_evaluation):
    evaluator = world.a.user(ProjectRole.EVALUATOR)
    dataset = services.tuning_dataset_create(
        actor=evaluator, project=world.a.project, name="fixes", evaluations=[failing_evaluation]
    )
    (entry,) = entries(world.a.project)
    assert entry.action == AuditAction.TUNING_DATASET_CREATED
    assert (entry.actor, entry.target_type, entry.target_id) == (evaluator, "tuning.tuningdataset", str(dataset.pk))
    assert entry.organization == world.a.project.organization
    assert entry.data["evaluations"] == [failing_evaluation.pk]
    assert entry.data["examples"] == {"train": dataset.train_count, "held_out": dataset.held_out_count}


@pytest.mark.django_db
def test_starting_cancelling_and_resuming_a_job_are_audited(world, django_capture_on_commit_callbacks):
    evaluator = world.a.user(ProjectRole.EVALUATOR)
    base = ModelEndpoint.objects.create(project=world.a.project, name="audit-hf", backend="hf", base_url="/nowhere")
    with django_capture_on_commit_callbacks(execute=False):  # the job itself is not run
        job = services.tuning_job_create(
            actor=evaluator,
            project=world.a.project,
            dataset=dataset_in(world.a),
            base_endpoint=base,
            name="audited",
            hyperparameters={"epochs": 1},
        )
        services.tuning_job_cancel(actor=evaluator, job=job)
        services.tuning_job_resume(actor=evaluator, job=job)
    actions = [(e.action, e.actor, e.target_id) for e in entries(world.a.project)]
    assert actions == [
        (AuditAction.TUNING_JOB_CREATED, evaluator, str(job.pk)),
        (AuditAction.TUNING_JOB_CANCELLED, evaluator, str(job.pk)),
        (AuditAction.TUNING_JOB_RESUMED, evaluator, str(job.pk)),
    ]
    created = entries(world.a.project)[0]
    assert created.data["base_model"] == "audit-hf" and created.data["hyperparameters"]["epochs"] == 1


@pytest.mark.django_db
def test_refused_actions_leave_no_entry(world):
    job = job_in(world.a)
    viewer = world.a.user(ProjectRole.VIEWER)
    with pytest.raises(ConflictError):
        services.tuning_job_resume(actor=world.a.user(ProjectRole.EVALUATOR), job=job)  # pending: nothing to resume
    with pytest.raises(ApplicationError):
        services.tuning_job_cancel(actor=viewer, job=job)
    assert entries(world.a.project) == []
