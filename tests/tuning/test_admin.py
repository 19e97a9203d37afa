"""The tuning admin: lists and job pages with their loss rows, scoped to the staff user's projects."""

import pytest
from django.urls import reverse

from tests.factories import UserFactory
from tuning.models import TuningStep

from .helpers import job_in


@pytest.mark.django_db
def test_admin_lists_jobs_and_datasets_of_the_users_projects_only(client, world):
    job = job_in(world.a)
    TuningStep.objects.create(job=job, step=1, epoch=0.5, loss=2.5, learning_rate=1e-4)
    client.force_login(UserFactory(username="root", is_staff=True, is_superuser=True))
    page = client.get(reverse("admin:tuning_tuningjob_change", args=[job.pk]))
    assert page.status_code == 200 and b"2.5" in page.content
    assert job.name.encode() in client.get(reverse("admin:tuning_tuningjob_changelist")).content
    assert client.get(reverse("admin:tuning_tuningdataset_changelist")).status_code == 200
    other = world.b.user("owner")
    other.is_staff = True
    other.save()
    client.force_login(other)
    assert job.name.encode() not in client.get(reverse("admin:tuning_tuningjob_changelist")).content
    assert client.get(reverse("admin:tuning_tuningjob_change", args=[job.pk])).status_code in (302, 404)
