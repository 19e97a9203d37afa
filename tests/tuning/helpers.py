"""Tuning rows for tenancy sweeps: a dataset and a job of a tenant, made directly (no training, no evaluation run:
these tests need rows to find, not their contents; the services are exercised in test_datasets and test_jobs)."""

from accounts.choices import ProjectRole
from models_registry.models import ModelEndpoint
from tuning.hyperparameters import Hyperparameters
from tuning.models import TuningDataset, TuningJob


def dataset_in(tenant, name: str = "isolation-data") -> TuningDataset:
    return TuningDataset.objects.create(
        project=tenant.project,
        name=name,
        version=1,
        strategy="error_specific",
        options={},
        counts={"examples": {"train": 1, "held_out": 0}},
        created_by=tenant.user(ProjectRole.EVALUATOR),
    )


def job_in(tenant, name: str = "isolation-tuned") -> TuningJob:
    base, _ = ModelEndpoint.objects.get_or_create(
        project=tenant.project, name="isolation-hf", defaults={"backend": "hf", "base_url": "/nowhere/tiny"}
    )
    return TuningJob.objects.create(
        project=tenant.project,
        name=name,
        base_endpoint=base,
        dataset=dataset_in(tenant, name=f"{name}-data"),
        hyperparameters=Hyperparameters().as_dict(),
        created_by=tenant.user(ProjectRole.EVALUATOR),
    )
