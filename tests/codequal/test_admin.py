"""Django admin: a staff user who is not a superuser sees and edits only their own tenant, through the services."""

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import Membership, Organization, Project
from tests.factories import UserFactory

CHANGELISTS = {
    "organization": "admin:accounts_organization_changelist",
    "organizationmembership": "admin:accounts_organizationmembership_changelist",
    "project": "admin:accounts_project_changelist",
    "membership": "admin:accounts_membership_changelist",
    "auditlog": "admin:accounts_auditlog_changelist",
}
# What each changelist shows of tenant A: the organization's name or the project's "org/project" label.
OWN_ROW = {
    "organization": "Org A",
    "organizationmembership": "Org A",
    "project": "Project A",
    "membership": "org-a/project-a",
    "auditlog": "org-a/project-a",
}
TENANT_B_NAMES = ("Org B", "org-b", "Project B", "project-b", "b-viewer", "b-owner", "b-orgowner")


def staff_client(user) -> Client:
    user.is_staff = True
    user.save(update_fields=["is_staff"])
    client = Client()
    client.force_login(user)
    return client


def page(client: Client, url: str, **params) -> str:
    response = client.get(url, params)
    assert response.status_code == 200, (url, response.status_code)
    return response.text


@pytest.fixture
def superuser_client(db):
    user = UserFactory(username="root", is_superuser=True, is_staff=True)
    client = Client()
    client.force_login(user)
    return client


@pytest.mark.parametrize("model", list(CHANGELISTS))
def test_staff_changelists_show_only_own_tenant(world, model):
    client = staff_client(world.a.user("admin"))

    html = page(client, reverse(CHANGELISTS[model]))

    # Sidebar filters included: they list the related organizations too.
    for name in TENANT_B_NAMES:
        assert name not in html, f"{name!r} of the other tenant is listed on the {model} changelist"
    assert OWN_ROW[model] in html


def test_staff_membership_changelist_lists_own_members(world):
    client = staff_client(world.a.user("admin"))

    html = page(client, reverse(CHANGELISTS["membership"]))

    for role in ("owner", "admin", "curator", "evaluator", "viewer"):
        assert f"a-{role}" in html


@pytest.mark.parametrize("url_name", ["change", "delete", "history"])
def test_staff_cannot_open_other_tenants_project(world, url_name):
    client = staff_client(world.a.user("admin"))
    other = world.b.project

    response = client.get(reverse(f"admin:accounts_project_{url_name}", args=[other.pk]), follow=True)

    if url_name == "delete":
        # Django asks has_delete_permission(obj=None) first: a user who may delete no project at all gets a 403.
        assert response.status_code == 403
    else:
        # An object outside get_queryset is treated as missing: back to the admin index with a message.
        assert response.redirect_chain == [(reverse("admin:index"), 302)]
        assert "doesn\u2019t exist" in response.text
    assert "Project B" not in response.text
    assert "project-b" not in response.text


def test_staff_owner_cannot_delete_other_tenants_project(world):
    client = staff_client(world.a.user("owner"))
    other = world.b.project

    response = client.post(reverse("admin:accounts_project_delete", args=[other.pk]), {"post": "yes"}, follow=True)

    assert response.redirect_chain == [(reverse("admin:index"), 302)]
    assert "Project B" not in response.text
    assert Project.objects.filter(pk=other.pk).exists()


def test_staff_post_to_other_tenants_project_changes_nothing(world):
    client = staff_client(world.a.user("admin"))
    other = world.b.project

    response = client.post(
        reverse("admin:accounts_project_change", args=[other.pk]),
        {"name": "Taken over", "slug": "taken-over", "description": "", "_save": "Save"},
    )

    assert response.status_code == 302
    other.refresh_from_db()
    assert (other.name, other.slug) == ("Project B", "project-b")


def test_staff_sees_own_project_change_form(world):
    client = staff_client(world.a.user("admin"))

    html = page(client, reverse("admin:accounts_project_change", args=[world.a.project.pk]))

    assert 'name="name"' in html
    assert 'value="Project A"' in html


def test_admin_role_change_goes_through_the_service(world):
    client = staff_client(world.a.user("admin"))
    viewer = world.a.user("viewer")
    membership = Membership.objects.get(project=world.a.project, user=viewer)
    assert not Project.objects.for_user(viewer, "evaluate").exists()

    response = client.post(
        reverse("admin:accounts_membership_change", args=[membership.pk]), {"role": "evaluator", "_save": "Save"}
    )

    assert response.status_code == 302, response.text
    membership.refresh_from_db()
    assert membership.role == "evaluator"
    # Guardian permissions are derived by the service; a plain save() would leave them as they were.
    assert list(Project.objects.for_user(viewer, "evaluate")) == [world.a.project]
    assert not Project.objects.for_user(viewer, "curate").exists()


def test_admin_cannot_grant_owner_role(world):
    """Only an owner grants the owner role; the service refuses, the page says why and nothing changes."""
    client = staff_client(world.a.user("admin"))
    viewer = world.a.user("viewer")
    membership = Membership.objects.get(project=world.a.project, user=viewer)
    url = reverse("admin:accounts_membership_change", args=[membership.pk])

    response = client.post(url, {"role": "owner", "_save": "Save"}, follow=True)

    assert response.redirect_chain == [(url, 302)]
    assert "Only a project owner can grant, change or revoke the owner role." in response.text
    membership.refresh_from_db()
    assert membership.role == "viewer"
    assert not Project.objects.for_user(viewer, "delete").exists()


def test_last_owner_cannot_be_demoted_in_admin(world):
    owner = world.a.user("owner")
    client = staff_client(owner)
    membership = Membership.objects.get(project=world.a.project, user=owner)
    url = reverse("admin:accounts_membership_change", args=[membership.pk])

    response = client.post(url, {"role": "viewer", "_save": "Save"}, follow=True)

    assert "A project must keep at least one owner." in response.text
    membership.refresh_from_db()
    assert membership.role == "owner"


def test_bulk_delete_of_memberships_removes_access(world):
    client = staff_client(world.a.user("admin"))
    removed = [world.a.user("viewer"), world.a.user("evaluator")]
    own = list(Membership.objects.filter(project=world.a.project, user__in=removed).values_list("pk", flat=True))
    foreign = Membership.objects.get(project=world.b.project, user=world.b.user("viewer"))
    assert all(Project.objects.for_user(user, "view").exists() for user in removed)

    response = client.post(
        reverse(CHANGELISTS["membership"]),
        {"action": "delete_selected", "_selected_action": [*own, foreign.pk], "post": "yes"},
    )

    assert response.status_code == 302, response.text
    assert not Membership.objects.filter(pk__in=own).exists()
    for user in removed:
        assert not Project.objects.for_user(user, "view").exists()
    # A foreign id smuggled into the selection is ignored: the action only sees the scoped queryset.
    assert Membership.objects.filter(pk=foreign.pk).exists()
    assert Project.objects.for_user(world.b.user("viewer"), "view").exists()


def test_staff_viewer_sees_project_read_only(world):
    client = staff_client(world.a.user("viewer"))
    url = reverse("admin:accounts_project_change", args=[world.a.project.pk])

    html = page(client, url)
    response = client.post(url, {"name": "Renamed", "slug": "renamed", "description": "", "_save": "Save"})

    assert "Project A" in html
    assert 'name="name"' not in html
    assert 'name="_save"' not in html
    assert response.status_code == 403
    world.a.project.refresh_from_db()
    assert world.a.project.name == "Project A"


def test_staff_viewer_cannot_delete_memberships(world):
    client = staff_client(world.a.user("viewer"))
    target = Membership.objects.get(project=world.a.project, user=world.a.user("curator"))

    listing = page(client, reverse(CHANGELISTS["membership"]))
    response = client.post(
        reverse(CHANGELISTS["membership"]),
        {"action": "delete_selected", "_selected_action": [target.pk], "post": "yes"},
    )

    assert "a-curator" in listing
    assert "delete_selected" not in listing  # no action is offered to someone who may not delete
    assert response.status_code == 200  # the changelist again, nothing done
    assert Membership.objects.filter(pk=target.pk).exists()
    assert Project.objects.for_user(world.a.user("curator"), "curate").exists()


def test_non_staff_member_is_sent_to_admin_login(world):
    client = Client()
    client.force_login(world.a.user("owner"))

    response = client.get(reverse(CHANGELISTS["project"]))

    assert response.status_code == 302
    assert response.url.startswith(reverse("admin:login"))


@pytest.mark.parametrize(
    ("model", "names"), [("organization", ("Org A", "Org B")), ("project", ("Project A", "Project B"))]
)
def test_superuser_sees_both_tenants(world, superuser_client, model, names):
    html = page(superuser_client, reverse(CHANGELISTS[model]))

    for name in names:
        assert name in html


def test_superuser_search(world, superuser_client):
    html = page(superuser_client, reverse(CHANGELISTS["project"]), q="Project B")

    assert "Project B" in html
    assert "Project A" not in html


def test_superuser_filter_by_organization(world, superuser_client):
    html = page(superuser_client, reverse(CHANGELISTS["project"]), organization__id__exact=world.a.organization.pk)

    assert "Project A" in html
    assert ">Project B<" not in html


def test_staff_search_stays_inside_tenant(world):
    client = staff_client(world.a.user("admin"))

    found = page(client, reverse(CHANGELISTS["membership"]), q="viewer")
    foreign = page(client, reverse(CHANGELISTS["project"]), q="Project B")

    assert "a-viewer" in found
    assert "b-viewer" not in found
    assert "a-curator" not in found
    assert "0 results" in foreign


def test_staff_filter_by_role(world):
    client = staff_client(world.a.user("admin"))

    html = page(client, reverse(CHANGELISTS["membership"]), role="curator")

    assert "a-curator" in html
    assert "a-evaluator" not in html
    assert "b-curator" not in html


def test_staff_organization_list_for_org_owner(world):
    """An organization owner sees their organization and its project, and still nothing of the other tenant."""
    client = staff_client(world.a.org_owner)

    orgs = page(client, reverse(CHANGELISTS["organization"]))
    projects = page(client, reverse(CHANGELISTS["project"]))

    assert "Org A" in orgs and "Org B" not in orgs
    assert "Project A" in projects and "Project B" not in projects
    assert Organization.objects.count() == 2
