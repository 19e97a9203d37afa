"""The role matrix: what each project role may do, through the API and through the one scoping helper."""

import pytest
from django.urls import reverse

from accounts import services
from accounts.models import Membership, Project
from accounts.roles import PROJECT_ACTION_PERMISSIONS
from accounts.selectors import project_user_can

ROLES = ["owner", "admin", "curator", "evaluator", "viewer"]

# action -> roles that may do it. Later apps rely on these actions: "evaluate" for evaluations, tuning and model
# endpoints, "curate" for suites and error patterns.
EXPECTED = {
    "view": {"owner", "admin", "curator", "evaluator", "viewer"},
    "evaluate": {"owner", "admin", "curator", "evaluator"},
    "curate": {"owner", "admin", "curator"},
    "manage_members": {"owner", "admin"},
    "change": {"owner", "admin"},
    "delete": {"owner"},
}


def test_expected_matrix_covers_every_action():
    assert set(EXPECTED) == set(PROJECT_ACTION_PERMISSIONS)


@pytest.mark.django_db
@pytest.mark.parametrize("action", list(EXPECTED))
def test_role_matrix_through_scoping(world, action):
    for role in ROLES:
        assert project_user_can(user=world.a.user(role), project=world.a.project, action=action) == (
            role in EXPECTED[action]
        ), (role, action)
        # The same role in tenant A gives nothing in tenant B.
        assert not project_user_can(user=world.a.user(role), project=world.b.project, action=action)
    # An organization owner acts as owner of every project of the organization, and of nothing else.
    assert project_user_can(user=world.a.org_owner, project=world.a.project, action=action)
    assert not project_user_can(user=world.a.org_owner, project=world.b.project, action=action)
    assert not project_user_can(user=world.outsider, project=world.a.project, action=action)


def _as(api, user):
    api.force_authenticate(user)
    return api


@pytest.mark.django_db
@pytest.mark.parametrize("role", ROLES)
def test_project_endpoints_by_role(world, api, role):
    user = world.a.user(role)
    detail = reverse("project-detail", kwargs={"pk": world.a.project.pk})
    _as(api, user)
    assert api.get(detail).status_code == 200
    response = api.patch(detail, {"description": f"edited by {role}"}, format="json")
    assert response.status_code == (200 if role in EXPECTED["change"] else 403), response.content
    if response.status_code == 403:
        assert response.json()["message"] == "Your role in this project does not allow this."
    new_member = {"project": world.a.project.pk, "user": world.outsider.username, "role": "viewer"}
    response = api.post(reverse("membership-list"), new_member, format="json")
    assert response.status_code == (201 if role in EXPECTED["manage_members"] else 403), response.content
    assert Membership.objects.filter(project=world.a.project, user=world.outsider).exists() == (
        role in EXPECTED["manage_members"]
    )


@pytest.mark.django_db
@pytest.mark.parametrize("role", ROLES)
def test_only_owner_deletes_project(world, api, role):
    _as(api, world.a.user(role))
    response = api.delete(reverse("project-detail", kwargs={"pk": world.a.project.pk}))
    assert response.status_code == (204 if role == "owner" else 403)
    assert Project.objects.filter(pk=world.a.project.pk).exists() == (role != "owner")


@pytest.mark.django_db
def test_admin_manages_members_but_not_owners(world, api):
    _as(api, world.a.user("admin"))
    viewer = Membership.objects.get(project=world.a.project, user=world.a.user("viewer"))
    url = reverse("membership-detail", kwargs={"pk": viewer.pk})
    assert api.patch(url, {"role": "curator"}, format="json").status_code == 200
    assert project_user_can(user=world.a.user("viewer"), project=world.a.project, action="curate")
    # Granting or touching the owner role is for owners.
    assert api.patch(url, {"role": "owner"}, format="json").status_code == 403
    owner = Membership.objects.get(project=world.a.project, user=world.a.user("owner"))
    assert api.delete(reverse("membership-detail", kwargs={"pk": owner.pk})).status_code == 403
    body = {"project": world.a.project.pk, "user": world.outsider.email, "role": "owner"}
    assert api.post(reverse("membership-list"), body, format="json").status_code == 403
    assert Membership.objects.get(pk=owner.pk).role == "owner"
    # Removing a member works, found by e-mail address too.
    assert api.delete(url).status_code == 204
    assert not project_user_can(user=world.a.user("viewer"), project=world.a.project, action="view")


@pytest.mark.django_db
def test_owner_can_do_everything_but_leave_no_owner(world, api):
    owner = world.a.user("owner")
    _as(api, owner)
    admin = Membership.objects.get(project=world.a.project, user=world.a.user("admin"))
    assert (
        api.patch(reverse("membership-detail", kwargs={"pk": admin.pk}), {"role": "owner"}, format="json").status_code
        == 200
    )
    mine = Membership.objects.get(project=world.a.project, user=owner)
    assert (
        api.patch(reverse("membership-detail", kwargs={"pk": mine.pk}), {"role": "viewer"}, format="json").status_code
        == 200
    )
    # Now the former admin is the only owner: they cannot step down.
    _as(api, world.a.user("admin"))
    response = api.patch(reverse("membership-detail", kwargs={"pk": admin.pk}), {"role": "viewer"}, format="json")
    assert response.status_code == 409
    assert response.json()["message"] == "A project must keep at least one owner."


@pytest.mark.django_db
def test_removing_membership_ends_access_at_once_for_existing_tokens(world, api):
    viewer = world.a.user("viewer")
    _, key = services.api_token_create(user=viewer, name="laptop")
    detail = reverse("project-detail", kwargs={"pk": world.a.project.pk})
    assert api.get(detail, HTTP_AUTHORIZATION=f"Bearer {key}").status_code == 200
    membership = Membership.objects.get(project=world.a.project, user=viewer)
    services.membership_delete(actor=world.a.user("owner"), membership=membership)
    assert api.get(detail, HTTP_AUTHORIZATION=f"Bearer {key}").status_code == 404
    listed = api.get(reverse("project-list"), HTTP_AUTHORIZATION=f"Bearer {key}").json()["results"]
    assert listed == []


@pytest.mark.django_db
def test_removing_organization_member_removes_every_project_role(world, api):
    evaluator = world.a.user("evaluator")
    org_membership = evaluator.organization_memberships.get(organization=world.a.organization)
    _as(api, world.a.org_owner)
    url = reverse("organization-member-detail", kwargs={"pk": org_membership.pk})
    assert api.delete(url).status_code == 204
    assert not Membership.objects.filter(user=evaluator).exists()
    assert not project_user_can(user=evaluator, project=world.a.project, action="view")


@pytest.mark.django_db
def test_organization_roles(world, api):
    _as(api, world.a.user("admin"))  # a project admin is an organization member, not an owner
    org = reverse("organization-detail", kwargs={"pk": world.a.organization.pk})
    assert api.get(org).status_code == 200
    assert api.patch(org, {"name": "Renamed"}, format="json").status_code == 403
    response = api.post(
        reverse("project-list"), {"organization": world.a.organization.pk, "name": "New"}, format="json"
    )
    assert response.status_code == 403
    _as(api, world.a.org_owner)
    assert api.patch(org, {"name": "Renamed"}, format="json").status_code == 200
    response = api.post(
        reverse("project-list"), {"organization": world.a.organization.pk, "name": "New"}, format="json"
    )
    assert response.status_code == 201
    created = Project.objects.get(pk=response.json()["id"])
    assert created.slug == "new"
    assert created.memberships.get().role == "owner"
    # Any signed-in user may start an organization of their own and owns it.
    _as(api, world.outsider)
    response = api.post(reverse("organization-list"), {"name": "Outsider Org"}, format="json")
    assert response.status_code == 201
    assert api.get(reverse("organization-list")).json()["count"] == 1
