"""The admin: curators of a tenant see, annotate and merge that tenant's patterns only, through the services."""

import pytest
from django.test import Client
from django.urls import reverse

from errors.models import ErrorPattern


def staff_client(user) -> Client:
    user.is_staff = True
    user.save(update_fields=["is_staff"])
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def patterns(world):
    def make(tenant, label, frequency):
        return ErrorPattern.objects.create(
            project=tenant.project,
            pattern_hash=label * 64,
            error_type="semantic.name_error",
            message=f"pattern {label}",
            frequency=frequency,
            models_affected={"m": frequency},
        )

    return {"a1": make(world.a, "a", 5), "a2": make(world.a, "c", 2), "b": make(world.b, "b", 9)}


@pytest.mark.django_db
def test_curator_annotates_and_merges_own_patterns_only(world, patterns):
    client = staff_client(world.a.user("curator"))
    html = client.get(reverse("admin:errors_errorpattern_changelist")).text
    assert "pattern a" in html and "pattern b" not in html
    url = reverse("admin:errors_errorpattern_change", args=[patterns["a1"].pk])
    response = client.post(url, {"title": "Helpers", "notes": "x", "suggested_fix": "Define them."})
    assert response.status_code == 302
    a1 = ErrorPattern.objects.get(pk=patterns["a1"].pk)
    assert (a1.title, a1.fix_curated, a1.annotated_by, a1.frequency) == ("Helpers", True, world.a.user("curator"), 5)
    foreign = reverse("admin:errors_errorpattern_change", args=[patterns["b"].pk])
    assert client.get(foreign).status_code in (302, 404)

    changelist = reverse("admin:errors_errorpattern_changelist")
    chosen = [patterns["a1"].pk, patterns["a2"].pk, patterns["b"].pk]
    client.post(changelist, {"action": "merge_into_first", "_selected_action": chosen})
    a1.refresh_from_db()
    assert a1.frequency == 7 and a1.models_affected == {"m": 7}
    assert ErrorPattern.objects.get(pk=patterns["a2"].pk).merged_into == a1
    assert ErrorPattern.objects.get(pk=patterns["b"].pk).merged_into is None


@pytest.mark.django_db
def test_viewers_cannot_change_patterns(world, patterns):
    client = staff_client(world.a.user("viewer"))
    url = reverse("admin:errors_errorpattern_change", args=[patterns["a1"].pk])
    assert client.get(url).status_code == 200  # read-only view
    client.post(url, {"title": "nope"})
    assert ErrorPattern.objects.get(pk=patterns["a1"].pk).title == ""
