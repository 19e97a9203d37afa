"""Suites and problems through the API, the admin and the CLI: roles, tenant isolation, built-in suites, init."""

import json

import pytest
from click.testing import CliRunner
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from codequal.cli import main
from evaluations.models import BenchmarkSuite, Problem
from evaluations.services import builtin_humaneval_install
from tests.codequal.test_cli import count_rows, ok
from tests.evaluations.suite_helpers import UNCHECKED_ROWS, custom_suite_in, jsonl, serve_local
from tests.factories import UserFactory

SUITES, PROBLEMS, IMPORT = "/api/v1/suites", "/api/v1/problems", "/api/v1/suites/import"


@pytest.fixture
def local_server():
    yield from serve_local()


def _upload(api, user, project, *, name="demo", rows=None):
    api.force_authenticate(user)
    body = {
        "format": "custom",
        "name": name,
        "project": project.pk,
        "file": SimpleUploadedFile("demo.jsonl", jsonl(rows or UNCHECKED_ROWS)),
    }
    return api.post(IMPORT, body, format="multipart")


@pytest.mark.django_db
def test_curator_imports_viewer_and_evaluator_cannot(api, world):
    for role in ("viewer", "evaluator"):
        response = _upload(api, world.a.user(role), world.a.project)
        assert response.status_code == 403, (role, response.json())
        assert response.json()["message"] == "Your role in this project does not allow importing suites."

    response = _upload(api, world.a.user("curator"), world.a.project)

    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["suite"]["name"] == "demo" and body["suite"]["version"] == 1 and body["problems"] == 2
    assert body["message"] == "Imported demo v1 (org-a/project-a): 2 problems, 0 reference solutions checked."
    assert BenchmarkSuite.objects.get().created_by == world.a.user("curator")


@pytest.mark.django_db
def test_import_errors_are_one_message_with_the_lines(api, world):
    rows = [UNCHECKED_ROWS[0], {**UNCHECKED_ROWS[1], "prompt": 7}]
    response = _upload(api, world.a.user("curator"), world.a.project, rows=rows)
    assert response.status_code == 400
    assert response.json()["extra"]["errors"] == ["line 2: field 'prompt' must be a string, not int"]
    assert not BenchmarkSuite.objects.exists()

    api.force_authenticate(world.a.user("curator"))
    both = {"format": "custom", "name": "x", "project": world.a.project.pk}
    assert api.post(IMPORT, both, format="json").status_code == 400  # neither file nor url


@pytest.mark.django_db
def test_import_into_another_tenants_project_reads_as_missing(api, world):
    response = _upload(api, world.b.user("owner"), world.a.project)
    assert response.status_code == 400
    assert "does not exist" in str(response.json()["extra"]["fields"]["project"])
    assert not BenchmarkSuite.objects.exists()


@pytest.mark.django_db
def test_builtin_suites_need_a_superuser(api, world):
    api.force_authenticate(world.a.user("owner"))
    body = {"format": "custom", "name": "x", "file": SimpleUploadedFile("x.jsonl", jsonl(UNCHECKED_ROWS))}
    response = api.post(IMPORT, body, format="multipart")
    assert response.status_code == 403 and "superuser" in response.json()["message"]


@pytest.mark.django_db
def test_json_url_import(api, world, local_server, settings):
    settings.SUITE_IMPORT_ALLOW_LOOPBACK_URLS = True
    local_server.routes["/s.jsonl"] = (200, {}, jsonl(UNCHECKED_ROWS))
    api.force_authenticate(world.a.user("curator"))
    body = {"format": "custom", "name": "web", "project": world.a.project.pk, "url": f"{local_server.url}/s.jsonl"}
    response = api.post(IMPORT, body, format="json")
    assert response.status_code == 201, response.json()

    settings.SUITE_IMPORT_ALLOW_LOOPBACK_URLS = False
    response = api.post(IMPORT, body, format="json")
    assert response.status_code == 400 and "loopback" in response.json()["message"]


@pytest.mark.django_db
def test_builtin_suite_is_visible_to_both_tenants_custom_suite_only_to_its_own(api, world):
    builtin = builtin_humaneval_install().suite
    custom = custom_suite_in(world.a.project, world.a.user("curator"))

    for user in (world.a.user("viewer"), world.b.user("viewer"), world.outsider):
        api.force_authenticate(user)
        listed = {s["id"] for s in api.get(SUITES).json()["results"]}
        assert builtin.pk in listed
        assert (custom.pk in listed) == (user == world.a.user("viewer"))
        assert api.get(f"{SUITES}/{builtin.pk}").status_code == 200
    api.force_authenticate(world.b.user("owner"))
    assert api.get(f"{SUITES}/{custom.pk}").status_code == 404
    assert api.delete(f"{SUITES}/{custom.pk}").status_code == 404
    problem = custom.problems.first()
    assert api.get(f"{PROBLEMS}/{problem.pk}").status_code == 404
    assert api.get(PROBLEMS, {"suite": custom.pk}).json()["count"] == 0
    api.force_authenticate(None)
    assert api.get(SUITES).status_code == 401


@pytest.mark.django_db
def test_delete_needs_the_curator_role_and_builtin_suites_are_read_only(api, world):
    builtin = builtin_humaneval_install().suite
    custom = custom_suite_in(world.a.project, world.a.user("curator"))

    api.force_authenticate(world.a.user("evaluator"))
    assert api.delete(f"{SUITES}/{custom.pk}").status_code == 403
    api.force_authenticate(UserFactory(is_superuser=True))
    assert api.delete(f"{SUITES}/{builtin.pk}").status_code == 403
    api.force_authenticate(world.a.user("curator"))
    assert api.delete(f"{SUITES}/{custom.pk}").status_code == 204

    assert not BenchmarkSuite.objects.filter(pk=custom.pk).exists()
    assert BenchmarkSuite.objects.filter(pk=builtin.pk).exists()


@pytest.mark.django_db
def test_problems_filter_paginate_and_show_tests_on_detail(api, world, django_assert_max_num_queries):
    builtin = builtin_humaneval_install().suite
    custom = custom_suite_in(world.a.project, world.a.user("curator"))
    api.force_authenticate(world.a.user("viewer"))

    with django_assert_max_num_queries(8):
        page = api.get(PROBLEMS, {"suite": builtin.pk, "page_size": 50}).json()
    assert page["count"] == 164 and len(page["results"]) == 50 and page["next"]
    assert page["results"][0]["task_id"] == "HumanEval/0" and "test_spec" not in page["results"][0]
    hard = api.get(PROBLEMS, {"suite": custom.pk, "difficulty": "hard"}).json()["results"]
    assert [p["task_id"] for p in hard] == ["demo/neg"]
    signs = api.get(PROBLEMS, {"category": "arithmetic"}).json()["results"]
    assert [p["task_id"] for p in signs] == ["demo/add"]
    detail = api.get(f"{PROBLEMS}/{hard[0]['id']}").json()
    assert detail["test_spec"]["parts"][0]["kind"] == "check"
    assert api.get(PROBLEMS, {"difficulty": "brutal"}).status_code == 400


@pytest.mark.django_db
def test_builtin_humaneval_installs_once(world):
    first = builtin_humaneval_install()
    again = builtin_humaneval_install()

    assert first.created and not again.created and again.suite == first.suite
    assert BenchmarkSuite.objects.count() == 1 and Problem.objects.count() == 164
    problem = first.suite.problems.get(task_id="HumanEval/95")
    harness = problem.harness()
    assert harness.setup == problem.prompt and [p.kind for p in harness.parts] == ["check"]


# --- admin -----------------------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_admin_import_page_for_curators(world):
    curator, viewer = world.a.user("curator"), world.a.user("viewer")
    for user in (curator, viewer):
        user.is_staff = True
        user.save(update_fields=["is_staff"])
    url = reverse("admin:evaluations_suite_import")
    client = Client()
    client.force_login(viewer)
    assert client.get(url).status_code == 403

    client.force_login(curator)
    assert "Import a suite" in client.get(reverse("admin:evaluations_benchmarksuite_changelist")).text
    upload = SimpleUploadedFile("demo.jsonl", jsonl(UNCHECKED_ROWS))
    form = {"project": world.a.project.pk, "name": "demo", "format": "custom", "file": upload}
    response = client.post(url, form)
    assert response.status_code == 302, response.text[:3000]
    suite = BenchmarkSuite.objects.get()
    assert suite.project == world.a.project

    bad = SimpleUploadedFile("bad.jsonl", jsonl([{**UNCHECKED_ROWS[0], "entry_point": None}]))
    response = client.post(url, {**form, "file": bad})
    assert response.status_code == 200 and "line 1: field &#x27;entry_point&#x27; is missing" in response.text
    # Another tenant's project is not a choice.
    response = client.post(url, {**form, "project": world.b.project.pk, "file": upload})
    assert response.status_code == 200 and BenchmarkSuite.objects.count() == 1


# --- CLI -------------------------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_cli_import_and_list(world, tmp_path):
    path = tmp_path / "demo.jsonl"
    path.write_bytes(jsonl(UNCHECKED_ROWS))
    runner = CliRunner()
    args = ["suites", "import", "--format", "custom", "--file", str(path), "--name", "demo"]

    refused = runner.invoke(main, [*args, "--project", "org-a/project-a", "--user", "a-viewer"])
    assert refused.exit_code == 1 and "does not allow importing suites" in refused.output

    done = runner.invoke(main, [*args, "--project", "org-a/project-a", "--user", "a-curator"])
    assert done.exit_code == 0, done.output
    assert "Imported demo v1 (org-a/project-a): 2 problems" in done.output

    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps(UNCHECKED_ROWS[0]) + "\n" + json.dumps({"task_id": "x"}) + "\n")
    failed = runner.invoke(main, [*args[:4], "--file", str(bad), "--name", "demo", "--user", "a-curator"])
    assert failed.exit_code == 1 and "line 2: field 'prompt' is missing" in failed.output

    listed = runner.invoke(main, ["suites", "list", "--user", "a-viewer"])
    assert listed.exit_code == 0 and "demo" in listed.output and "org-a/project-a" in listed.output
    assert "demo" not in runner.invoke(main, ["suites", "list", "--user", "b-viewer"]).output


def test_init_installs_humaneval_once(tmp_path):
    out = ok(tmp_path, "init", "--noinput")
    assert "Built-in suite 'humaneval' v1: created." in out
    assert "Execution environment 'default'" in out
    again = ok(tmp_path, "init", "--noinput")
    assert "Built-in suite 'humaneval' v1: already there." in again
    assert count_rows(tmp_path, "evaluations_benchmarksuite") == 1
    assert count_rows(tmp_path, "evaluations_problem") == 164
    listed = ok(tmp_path, "suites", "list")
    assert "humaneval" in listed and "164 problems" in listed and "built-in" in listed


@pytest.mark.django_db
def test_suite_import_and_delete_are_audited(world):
    from accounts.models import AuditLog
    from evaluations.services import suite_delete

    suite = custom_suite_in(world.a.project, world.a.user("curator"), name="audited")
    suite_delete(actor=world.a.user("curator"), suite=suite)
    entries = AuditLog.objects.filter(project=world.a.project, action__in=["suite_imported", "suite_deleted"])
    assert [(e.action, e.data["name"]) for e in entries.order_by("pk")] == [
        ("suite_imported", "audited"),
        ("suite_deleted", "audited"),
    ]
    assert entries.first().actor == world.a.user("curator")
