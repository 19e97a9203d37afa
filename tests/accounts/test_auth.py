"""JWT login, API tokens, throttling and the audit trail."""

from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from rest_framework_simplejwt.tokens import AccessToken

from accounts import services
from accounts.models import ApiToken, AuditLog
from tests.factories import PASSWORD, UserFactory

LOGIN = "/api/v1/auth/login"
ME = "/api/v1/auth/me"


@pytest.mark.django_db
def test_jwt_login_answers_bearer_token_that_authenticates(api):
    user = UserFactory(username="alice")
    response = api.post(LOGIN, {"username": "alice", "password": PASSWORD}, format="json")
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"access_token", "token_type", "expires_in"}
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 3600
    me = api.get(ME, HTTP_AUTHORIZATION=f"Bearer {body['access_token']}")
    assert me.status_code == 200
    assert me.json()["username"] == "alice"
    entry = AuditLog.objects.get(action="login")
    assert entry.actor == user
    assert entry.data == {"method": "jwt"}
    assert entry.ip_address == "127.0.0.1"


@pytest.mark.django_db
def test_wrong_password_and_inactive_user_are_refused_and_audited(api):
    UserFactory(username="bob")
    UserFactory(username="carol", is_active=False)
    for username in ("bob", "carol"):
        password = "wrong" if username == "bob" else PASSWORD
        response = api.post(LOGIN, {"username": username, "password": password}, format="json")
        assert response.status_code == 401
        assert response.json() == {"message": "Invalid username or password.", "extra": {}}
    failed = AuditLog.objects.filter(action="login_failed").order_by("pk")
    assert [e.data["username"] for e in failed] == ["bob", "carol"]
    assert not AuditLog.objects.filter(action="login").exists()


@pytest.mark.django_db
def test_login_input_is_validated(api):
    response = api.post(LOGIN, {"username": "x"}, format="json")
    assert response.status_code == 400
    assert response.json()["message"] == "Invalid input."
    assert "password" in response.json()["extra"]["fields"]


@pytest.mark.django_db
def test_bad_jwts_are_refused(api):
    user = UserFactory()
    token = AccessToken.for_user(user)
    tampered = str(token)[:-2] + ("AA" if not str(token).endswith("AA") else "BB")
    assert api.get(ME, HTTP_AUTHORIZATION=f"Bearer {tampered}").status_code == 401
    expired = AccessToken.for_user(user)
    expired.set_exp(lifetime=-timedelta(seconds=1))
    assert api.get(ME, HTTP_AUTHORIZATION=f"Bearer {expired}").status_code == 401
    user.is_active = False
    user.save()
    assert api.get(ME, HTTP_AUTHORIZATION=f"Bearer {token}").status_code == 401
    assert api.get(ME).status_code == 401


@pytest.mark.django_db
def test_login_is_throttled_per_address(api, settings):
    UserFactory(username="dave")
    codes = [api.post(LOGIN, {"username": f"guess{i}", "password": "x"}, format="json").status_code for i in range(11)]
    assert codes == [401] * 10 + [429]
    response = api.post(LOGIN, {"username": "dave", "password": PASSWORD}, format="json")
    assert response.status_code == 429, "the right password does not bypass the throttle"
    assert response.json()["extra"]["retry_after"] >= 1


@pytest.mark.django_db
def test_login_is_throttled_per_username_across_addresses(api):
    UserFactory(username="erin")
    codes = [
        api.post(
            LOGIN, {"username": "Erin", "password": "x"}, format="json", REMOTE_ADDR=f"127.0.0.{i + 2}"
        ).status_code
        for i in range(11)
    ]
    assert codes[-1] == 429
    assert codes[:10] == [401] * 10


@pytest.mark.django_db
def test_api_token_lifecycle(api):
    user = UserFactory()
    api.force_authenticate(user)
    response = api.post("/api/v1/tokens", {"name": "ci"}, format="json")
    assert response.status_code == 201
    key = response.json()["token"]
    assert key.startswith("cqb_")
    row = ApiToken.objects.get(pk=response.json()["id"])
    assert row.key_hash != key and key not in row.key_hash and row.prefix == key[:12]
    listed = api.get("/api/v1/tokens").json()["results"]
    assert [t["name"] for t in listed] == ["ci"]
    assert "token" not in listed[0] and "key_hash" not in listed[0]
    api.force_authenticate(None)

    auth = {"HTTP_AUTHORIZATION": f"Bearer {key}"}
    assert api.get(ME, **auth).status_code == 200
    row.refresh_from_db()
    assert row.last_used_at is not None

    api.force_authenticate(user)
    assert api.delete(f"/api/v1/tokens/{row.pk}").status_code == 204
    assert api.delete(f"/api/v1/tokens/{row.pk}").status_code == 204  # revoking twice is harmless
    api.force_authenticate(None)
    response = api.get(ME, **auth)
    assert response.status_code == 401
    assert response.json()["message"] == "Invalid, expired or revoked API token."
    assert list(AuditLog.objects.filter(target_type="accounts.apitoken").values_list("action", flat=True)) == [
        "token_revoked",
        "token_created",
    ]


@pytest.mark.django_db
def test_expired_and_unknown_tokens_are_refused(api):
    user = UserFactory()
    token, key = services.api_token_create(user=user, name="short", expires_at=timezone.now() + timedelta(hours=1))
    assert api.get(ME, HTTP_AUTHORIZATION=f"Bearer {key}").status_code == 200
    ApiToken.objects.filter(pk=token.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert api.get(ME, HTTP_AUTHORIZATION=f"Bearer {key}").status_code == 401
    assert api.get(ME, HTTP_AUTHORIZATION="Bearer cqb_not-a-real-token").status_code == 401
    api.force_authenticate(user)
    past = (timezone.now() - timedelta(days=1)).isoformat()
    response = api.post("/api/v1/tokens", {"name": "old", "expires_at": past}, format="json")
    assert response.status_code == 400
    assert response.json()["message"] == "The expiry must be in the future."


@pytest.mark.django_db
def test_tokens_are_personal(api):
    alice, bob = UserFactory(), UserFactory()
    token, _ = services.api_token_create(user=alice, name="mine")
    api.force_authenticate(bob)
    assert api.get(f"/api/v1/tokens/{token.pk}").status_code == 404
    assert api.delete(f"/api/v1/tokens/{token.pk}").status_code == 404
    token.refresh_from_db()
    assert token.revoked_at is None


@pytest.mark.django_db
def test_membership_changes_are_audited(world, api):
    owner = world.a.user("owner")
    api.force_authenticate(owner)
    response = api.post(
        "/api/v1/memberships", {"project": world.a.project.pk, "user": "outsider", "role": "viewer"}, format="json"
    )
    assert response.status_code == 201
    api.patch(f"/api/v1/memberships/{response.json()['id']}", {"role": "evaluator"}, format="json")
    api.delete(f"/api/v1/memberships/{response.json()['id']}")
    entries = AuditLog.objects.filter(project=world.a.project, target_id=str(world.outsider.pk)).order_by("pk")
    assert [(e.action, e.data["role"]) for e in entries] == [
        ("member_added", "viewer"),
        ("member_role_changed", "evaluator"),
        ("member_removed", "evaluator"),
    ]
    assert all(e.actor == owner for e in entries)
    # The owner sees these entries through the API; the viewer of tenant B sees none of them.
    listed = api.get("/api/v1/audit-log?action=member_added&page_size=500").json()["results"]
    assert any(e["target_id"] == str(world.outsider.pk) for e in listed)
    api.force_authenticate(world.b.user("owner"))
    listed = api.get("/api/v1/audit-log?page_size=500").json()["results"]
    assert all(e["project"] != world.a.project.pk for e in listed)


@pytest.mark.django_db
def test_portal_session_login_is_audited_and_throttled():
    UserFactory(username="frank")
    client = Client()
    response = client.post(reverse("frontend:login"), {"username": "frank", "password": PASSWORD})
    assert response.status_code == 302
    assert AuditLog.objects.get(action="login").data == {"method": "session"}
    assert client.get("/").status_code == 200
    # The session authenticates the API as well.
    assert client.get(ME).json()["username"] == "frank"
    other = Client(REMOTE_ADDR="127.0.0.9")
    codes = [other.post(reverse("frontend:login"), {"username": "x", "password": "y"}).status_code for _ in range(11)]
    assert codes == [200] * 10 + [429]
    assert b"Too many sign-in attempts" in other.post(reverse("frontend:login"), {"username": "x"}).content
