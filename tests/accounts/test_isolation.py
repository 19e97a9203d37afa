"""Tenant isolation over every API route, found from the URL configuration so later endpoints are covered too.

For each viewset under /api/v1/, an object of tenant A is created (OBJECT_IN_TENANT_A must know how: a new model
fails this test until it is added), then every user of tenant B, with an API token and with a JWT, tries every
method the route offers: detail routes answer 404 and leave the object untouched; list routes never show it.
"""

import pytest
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework.viewsets import ViewSetMixin
from rest_framework_simplejwt.tokens import AccessToken

from accounts import services
from accounts.models import ApiToken, AuditLog, Membership, Organization, OrganizationMembership, Project
from errors.models import ErrorPattern
from evaluations.models import BenchmarkSuite, Evaluation, Problem
from models_registry.models import ModelEndpoint
from models_registry.services import model_endpoint_create
from tests.evaluations.suite_helpers import custom_suite_in, evaluation_in
from tests.tuning.helpers import dataset_in, job_in
from tuning.models import TuningDataset, TuningJob

# How to get (or make) an object that belongs to tenant A, per model served by a viewset.
OBJECT_IN_TENANT_A = {
    Organization: lambda w: w.a.organization,
    OrganizationMembership: lambda w: OrganizationMembership.objects.get(
        organization=w.a.organization, user=w.a.user("viewer")
    ),
    Project: lambda w: w.a.project,
    Membership: lambda w: Membership.objects.get(project=w.a.project, user=w.a.user("viewer")),
    ApiToken: lambda w: services.api_token_create(user=w.a.user("viewer"), name="a-token")[0],
    AuditLog: lambda w: AuditLog.objects.filter(project=w.a.project).exclude(actor__in=_b_users(w)).first(),
    ModelEndpoint: lambda w: model_endpoint_create(
        actor=w.a.user("evaluator"), project=w.a.project, name="a-model", backend="ollama", api_key="sk-a-secret"
    ),
    # A custom suite of tenant A (built-in suites are visible to every tenant, by design) and one of its problems.
    BenchmarkSuite: lambda w: custom_suite_in(w.a.project, w.a.user("curator"), name="a-suite"),
    Problem: lambda w: custom_suite_in(w.a.project, w.a.user("curator"), name="a-problems").problems.first(),
    Evaluation: lambda w: evaluation_in(w.a),
    TuningDataset: lambda w: dataset_in(w.a),
    TuningJob: lambda w: job_in(w.a),
    # Patterns come from analysis; an annotated one stands for what a curator of tenant A wrote.
    ErrorPattern: lambda w: ErrorPattern.objects.get_or_create(
        project=w.a.project, pattern_hash="a" * 64, defaults={"error_type": "semantic.name_error", "title": "A's"}
    )[0],
}

# Routes that are not viewsets must be listed here with the reason they cannot leak tenant data.
NON_VIEWSET_ROUTES = {
    "auth-login": "exchanges credentials for a token; returns no stored data",
    "auth-me": "returns the caller's own user, organizations and roles only",
    "metric-list": "lists the metric classes installed on the server (names, descriptions); no tenant data",
}

WRITE_BODY = {"name": "taken over", "role": "viewer", "description": "x", "slug": "taken-over"}


def _b_users(w):
    return [*w.b.users.values(), w.b.org_owner, w.outsider]


def _walk(patterns, prefix=""):
    for p in patterns:
        if isinstance(p, URLResolver):
            yield from _walk(p.url_patterns, prefix + str(p.pattern))
        elif isinstance(p, URLPattern):
            yield prefix + str(p.pattern), p


def api_routes():
    viewsets, others = {}, {}
    for route, pattern in _walk(get_resolver().url_patterns):
        if not route.startswith("api/v1/"):
            continue
        cls = getattr(pattern.callback, "cls", None)
        if cls is not None and issubclass(cls, ViewSetMixin):
            detail = pattern.callback.initkwargs.get("detail")
            actions = {m: a for m, a in pattern.callback.actions.items() if m in cls.http_method_names}
            viewsets.setdefault(cls, []).append((pattern.name, detail, actions))
        elif cls is not None:
            others[pattern.name] = cls
    return viewsets, others


def test_every_non_viewset_route_is_reviewed():
    _, others = api_routes()
    unreviewed = set(others) - set(NON_VIEWSET_ROUTES)
    assert not unreviewed, f"API routes outside a scoped viewset need a review entry: {sorted(unreviewed)}"


def test_every_viewset_model_has_a_tenant_object():
    viewsets, _ = api_routes()
    models = {cls.queryset.model for cls in viewsets}
    missing = {m.__name__ for m in models} - {m.__name__ for m in OBJECT_IN_TENANT_A}
    assert not missing, f"Add these models to OBJECT_IN_TENANT_A so isolation covers them: {sorted(missing)}"
    assert len(viewsets) >= 6


def _credentials(user):
    _, key = services.api_token_create(user=user, name="isolation")
    return {
        "api-token": f"Bearer {key}",
        "jwt": f"Bearer {AccessToken.for_user(user)}",
    }


def _url(name, pk=None):
    from django.urls import reverse

    return reverse(name, kwargs={"pk": pk} if pk is not None else None)


def _listed_ids(api, url, auth):
    ids, page = set(), url + "?page_size=500"
    while page:
        response = api.get(page, HTTP_AUTHORIZATION=auth)
        assert response.status_code == 200, (url, response.status_code, response.content[:300])
        body = response.json()
        ids |= {row["id"] for row in body["results"]}
        page = body.get("next")
    return ids


def _snapshot(obj):
    fresh = type(obj).objects.filter(pk=obj.pk).values().first()
    assert fresh is not None, f"{type(obj).__name__} {obj.pk} was deleted across tenants"
    return fresh


@pytest.mark.django_db
def test_no_route_reads_lists_changes_or_deletes_another_tenants_object(world, api):
    viewsets, _ = api_routes()
    targets = {cls: OBJECT_IN_TENANT_A[cls.queryset.model](world) for cls in viewsets}
    for cls, obj in targets.items():
        assert obj is not None, f"no tenant-A object for {cls.__name__}"
    before = {cls: _snapshot(obj) for cls, obj in targets.items()}
    checked = 0
    for user in _b_users(world):
        for method_name, auth in _credentials(user).items():
            for cls, routes in viewsets.items():
                obj = targets[cls]
                for name, detail, actions in routes:
                    if not detail:
                        if "get" in actions:
                            assert obj.pk not in _listed_ids(api, _url(name), auth), (user, method_name, name)
                            for key in ("project", "organization"):
                                url = f"{_url(name)}?{key}={getattr(world.a, key).pk}"
                                response = api.get(url, HTTP_AUTHORIZATION=auth)
                                assert response.status_code in (200, 400), (url, response.status_code)
                                if response.status_code == 200:
                                    assert obj.pk not in {r["id"] for r in response.json()["results"]}, url
                        checked += 1
                        continue
                    for http_method in actions:
                        call = getattr(api, http_method)
                        kwargs = (
                            {"format": "json", "data": WRITE_BODY} if http_method in ("put", "patch", "post") else {}
                        )
                        response = call(_url(name, obj.pk), HTTP_AUTHORIZATION=auth, **kwargs)
                        assert response.status_code == 404, (
                            user.username,
                            method_name,
                            name,
                            http_method,
                            response.status_code,
                            response.content[:200],
                        )
                        if http_method != "head":
                            assert response.json()["message"] == "Not found.", (name, http_method)
                        checked += 1
    after = {cls: _snapshot(obj) for cls, obj in targets.items()}
    assert before == after
    assert checked > 100


@pytest.mark.django_db
def test_creating_under_another_tenants_parent_is_refused_without_detail(world, api):
    auth = _credentials(world.b.user("owner"))["api-token"]
    attempts = [
        ("project-list", {"organization": world.a.organization.pk, "name": "Sneaky"}),
        ("membership-list", {"project": world.a.project.pk, "user": "outsider", "role": "viewer"}),
        ("organization-member-list", {"organization": world.a.organization.pk, "user": "outsider", "role": "member"}),
    ]
    for name, body in attempts:
        response = api.post(_url(name), body, format="json", HTTP_AUTHORIZATION=auth)
        assert response.status_code == 400, (name, response.status_code)
        field = "organization" if "organization" in body else "project"
        assert "does not exist" in str(response.json()["extra"]["fields"][field])
    assert not Project.objects.filter(name="Sneaky").exists()
    assert not Membership.objects.filter(project=world.a.project, user=world.outsider).exists()
    assert not OrganizationMembership.objects.filter(organization=world.a.organization, user=world.outsider).exists()
