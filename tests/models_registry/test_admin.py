"""The admin: endpoints are scoped like every tenant model, keys are write-only, saves go through the services."""

import logging

import pytest
from django.test import Client
from django.urls import reverse

from models_registry.crypto import decrypt_secret
from models_registry.models import ModelEndpoint
from models_registry.services import model_endpoint_create
from tests.factories import UserFactory

from .conftest import SECRET

pytestmark = pytest.mark.django_db


@pytest.fixture
def root():
    client = Client()
    client.force_login(UserFactory(username="root", is_superuser=True, is_staff=True))
    return client


def form_data(project, ollama, **extra):
    return {
        "project": project.pk,
        "name": "codellama:7b",
        "backend": "ollama",
        "model": "",
        "api_style": "completion",
        "base_url": ollama.url,
        "generation_options": "{}",
        "capabilities": '["code"]',
        "max_concurrency": "4",
        "api_key_env": "",
        "api_key": SECRET,
        **extra,
    }


def test_add_through_the_admin_encrypts_the_key(root, world, ollama, caplog):
    caplog.set_level(logging.DEBUG)
    response = root.post(reverse("admin:models_registry_modelendpoint_add"), form_data(world.a.project, ollama))
    assert response.status_code == 302, response.content[:2000]
    endpoint = ModelEndpoint.objects.get()
    assert decrypt_secret(endpoint.api_key_encrypted) == SECRET
    pages = [
        root.get(reverse("admin:models_registry_modelendpoint_change", args=[endpoint.pk])).text,
        root.get(reverse("admin:models_registry_modelendpoint_changelist")).text,
    ]
    assert "Stored encrypted" in pages[0]
    for html in pages:
        assert SECRET not in html and endpoint.api_key_encrypted not in html
    assert not any(SECRET in r.getMessage() for r in caplog.records)


def test_change_without_a_key_keeps_it_and_clear_removes_it(root, world, ollama):
    endpoint = model_endpoint_create(
        actor=world.a.user("owner"),
        project=world.a.project,
        name="m",
        backend="ollama",
        base_url=ollama.url,
        api_key=SECRET,
    )
    url = reverse("admin:models_registry_modelendpoint_change", args=[endpoint.pk])
    data = form_data(world.a.project, ollama, name="m", api_key="", max_concurrency="2")
    assert root.post(url, data).status_code == 302
    endpoint.refresh_from_db()
    assert endpoint.max_concurrency == 2 and decrypt_secret(endpoint.api_key_encrypted) == SECRET
    assert root.post(url, {**data, "clear_api_key": "on"}).status_code == 302
    endpoint.refresh_from_db()
    assert endpoint.api_key_encrypted == ""


def test_a_refused_url_is_a_form_error_not_a_500(root, world, ollama):
    data = form_data(world.a.project, ollama, base_url="http://169.254.169.254/")
    response = root.post(reverse("admin:models_registry_modelendpoint_add"), data)
    assert response.status_code == 200
    assert "link-local or cloud-metadata" in response.text
    assert not ModelEndpoint.objects.exists()


def test_staff_see_only_their_tenant(world, ollama):
    for tenant in (world.a, world.b):
        model_endpoint_create(
            actor=tenant.user("owner"),
            project=tenant.project,
            name=f"{tenant.project.slug}-model",
            backend="ollama",
            base_url=ollama.url,
        )
    user = world.a.user("evaluator")
    user.is_staff = True
    user.save(update_fields=["is_staff"])
    client = Client()
    client.force_login(user)
    html = client.get(reverse("admin:models_registry_modelendpoint_changelist")).text
    assert "project-a-model" in html and "project-b-model" not in html
    other = ModelEndpoint.objects.get(project=world.b.project)
    response = client.get(reverse("admin:models_registry_modelendpoint_change", args=[other.pk]))
    assert response.status_code == 302  # Django's admin redirects away from objects the user may not see
