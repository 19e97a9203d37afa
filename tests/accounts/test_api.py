"""API skeleton: error bodies, pagination, filtering, slugs and conflicts, the OpenAPI schema and docs."""

import pytest
from django.core.management import call_command

from accounts import services
from accounts.models import Membership
from tests.factories import UserFactory


@pytest.mark.django_db
def test_schema_generates_without_warnings(tmp_path):
    out = tmp_path / "schema.yml"
    # --fail-on-warn turns every drf-spectacular warning (unresolvable serializer, authenticator...) into an error.
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(out))
    text = out.read_text()
    for path in ("/api/v1/auth/login", "/api/v1/projects/{id}/", "/api/v1/memberships/", "/api/v1/tokens/"):
        assert f"  {path}:" in text, path
    assert "jwt:" in text and "apiToken:" in text


@pytest.mark.django_db
def test_schema_and_docs_are_served_without_a_cdn(client):
    assert client.get("/api/schema/").status_code == 200
    docs = client.get("/api/docs/")
    assert docs.status_code == 200
    html = docs.content.decode()
    assert "swagger-ui" in html
    assert "cdn." not in html and "jsdelivr" not in html and "unpkg" not in html


@pytest.mark.django_db
def test_routes_answer_with_and_without_trailing_slash(world, api):
    api.force_authenticate(world.a.user("viewer"))
    assert api.get("/api/v1/projects").status_code == 200
    assert api.get("/api/v1/projects/").status_code == 200
    assert api.get(f"/api/v1/projects/{world.a.project.pk}").json()["name"] == "Project A"


@pytest.mark.django_db
def test_error_bodies_are_consistent(world, api):
    assert api.get("/api/v1/projects").json() == {
        "message": "Authentication credentials were not provided.",
        "extra": {},
    }
    api.force_authenticate(world.a.user("viewer"))
    assert api.get("/api/v1/projects/999999").json() == {"message": "Not found.", "extra": {}}
    unknown = api.get("/api/v1/no-such-thing")
    assert unknown.status_code == 404 and unknown.json()["message"] == "Not found."
    response = api.post("/api/v1/organizations", {"name": ""}, format="json")
    assert response.status_code == 400
    assert set(response.json()) == {"message", "extra"}
    assert "name" in response.json()["extra"]["fields"]


@pytest.mark.django_db
def test_pagination_and_filters(world, api):
    owner = world.a.org_owner
    for i in range(7):
        services.project_create(actor=owner, organization=world.a.organization, name=f"Extra {i}")
    api.force_authenticate(owner)
    page = api.get("/api/v1/projects?page_size=3").json()
    assert page["count"] == 8 and len(page["results"]) == 3 and page["next"]
    assert api.get("/api/v1/projects?q=extra").json()["count"] == 7
    assert api.get("/api/v1/projects?slug=extra-3").json()["results"][0]["name"] == "Extra 3"
    assert api.get("/api/v1/projects?ordering=-name&page_size=1").json()["results"][0]["name"] == "Project A"
    members = api.get(f"/api/v1/memberships?project={world.a.project.pk}&role=curator").json()["results"]
    assert [m["user_detail"]["username"] for m in members] == ["a-curator"]


@pytest.mark.django_db
def test_slug_conflicts_and_user_lookup_errors(world, api):
    api.force_authenticate(world.a.org_owner)
    body = {"organization": world.a.organization.pk, "name": "Again", "slug": world.a.project.slug}
    response = api.post("/api/v1/projects", body, format="json")
    assert response.status_code == 409
    assert response.json()["message"] == "That project slug is taken in this organization."
    response = api.post(
        "/api/v1/memberships", {"project": world.a.project.pk, "user": "nobody", "role": "viewer"}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["message"] == "No active user has that username or e-mail address."
    response = api.post(
        "/api/v1/memberships", {"project": world.a.project.pk, "user": "a-viewer", "role": "viewer"}, format="json"
    )
    assert response.status_code == 409
    response = api.post(
        "/api/v1/memberships", {"project": world.a.project.pk, "user": "a-viewer", "role": "superhero"}, format="json"
    )
    assert response.status_code == 400
    assert "role" in response.json()["extra"]["fields"]


@pytest.mark.django_db
def test_add_member_by_email_makes_them_organization_member(world, api):
    api.force_authenticate(world.a.user("admin"))
    response = api.post(
        "/api/v1/memberships",
        {"project": world.a.project.pk, "user": "OUTSIDER@example.test", "role": "evaluator"},
        format="json",
    )
    assert response.status_code == 201, response.content
    assert response.json()["user_detail"]["username"] == "outsider"
    assert world.outsider.organization_memberships.get().organization == world.a.organization
    # A membership's project and user are fixed; only the role changes.
    url = f"/api/v1/memberships/{response.json()['id']}"
    api.patch(url, {"project": world.b.project.pk, "user": "a-viewer"}, format="json")
    membership = Membership.objects.get(pk=response.json()["id"])
    assert (membership.project, membership.user) == (world.a.project, world.outsider)


@pytest.mark.django_db
def test_me_lists_roles(world, api):
    api.force_authenticate(world.a.user("curator"))
    me = api.get("/api/v1/auth/me").json()
    assert me["projects"] == [
        {
            "project": world.a.project.pk,
            "project_name": "Project A",
            "organization": world.a.organization.pk,
            "role": "curator",
        }
    ]
    assert me["organizations"] == [{"organization": world.a.organization.pk, "name": "Org A", "role": "member"}]


@pytest.mark.django_db
def test_list_query_count_is_bounded(world, api, django_assert_max_num_queries):
    owner = world.a.org_owner
    for _ in range(20):
        services.membership_create(actor=owner, project=world.a.project, user=UserFactory(), role="viewer")
    api.force_authenticate(owner)
    with django_assert_max_num_queries(6):
        response = api.get(f"/api/v1/memberships?project={world.a.project.pk}&page_size=100")
    assert response.json()["count"] == 25
