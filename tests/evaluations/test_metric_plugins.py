"""Metric plugins: registered from a dotted path, selectable per evaluation, failures recorded per sample."""

import json

import pytest
from django.core.exceptions import ImproperlyConfigured

from accounts.choices import ProjectRole
from codequal.jobs import in_process
from evaluations.metrics import load_plugins, metric_names
from evaluations.models import Sample
from evaluations.runs.config import ConfigError, parse_config
from evaluations.runs.services import evaluation_create
from models_registry.services import model_endpoint_create
from tests.evaluations.suite_helpers import custom_suite_in

pytestmark = pytest.mark.django_db(transaction=True)
PLUGIN = "tests.evaluations.metric_plugins.CompletionLength"


@pytest.fixture
def plugin(settings):
    settings.CODEQUAL_METRIC_PLUGINS = [PLUGIN]
    load_plugins()
    return "completion_length"


def test_a_plugin_is_listed_selectable_and_its_failures_stay_on_their_sample(world, settings, tmp_path, plugin):
    settings.CODEQUAL_INLINE_JOBS = "sync"
    settings.SAMPLES_DIR = tmp_path
    tenant = world.a
    custom_suite_in(tenant.project, tenant.user(ProjectRole.CURATOR))
    rows = [
        {"task_id": "demo/add", "completion": "    return a + b\n"},
        {"task_id": "demo/add", "completion": "    return a + b  # boom\n"},
    ]
    (tmp_path / "s.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    evaluator = tenant.user(ProjectRole.EVALUATOR)
    model_endpoint_create(
        actor=evaluator, project=tenant.project, name="file", backend="samples", base_url=str(tmp_path / "s.jsonl")
    )
    config = {
        "models": ["file"],
        "problems": {"suite": "demo", "task_ids": ["demo/add"]},
        "evaluation": {"samples_from_file": True},
        "metrics": {"enable": ["quality_metrics", plugin], plugin: {"unit": "chars"}},
    }
    with in_process():
        evaluation = evaluation_create(actor=evaluator, project=tenant.project, config=config)
    evaluation.refresh_from_db()
    assert evaluation.status == "completed", evaluation.error_message
    values = [s.metrics[plugin] for s in Sample.objects.filter(evaluation=evaluation).order_by("index")]
    assert values[0] == {"length": len(rows[0]["completion"])}
    assert values[1]["error"].startswith("RuntimeError: this completion breaks the metric")
    aggregate = evaluation.summary["by_model"]["file"]["metrics"][plugin]
    assert aggregate["length"]["count"] == 1 and aggregate["failed_samples"] == 1
    # Both samples still got the built-in quality metrics, and both passed.
    assert all("maintainability_index" in s.metrics for s in Sample.objects.filter(evaluation=evaluation))
    assert evaluation.passed_samples == 2


def test_the_metrics_endpoint_lists_built_ins_and_plugins(api, world, plugin):
    api.force_authenticate(world.a.user(ProjectRole.VIEWER))
    listed = {m["name"]: m for m in api.get("/api/v1/metrics").json()}
    assert {"quality_metrics", plugin} <= set(listed)
    assert listed[plugin]["summary_fields"] == ["length"] and "unit" in listed[plugin]["parameters"]
    api.force_authenticate(None)
    assert api.get("/api/v1/metrics").status_code == 401


@pytest.mark.parametrize(
    ("metrics", "field"),
    [
        ({"enable": ["nope"]}, "metrics.enable"),
        ({"enable": ["completion_length"], "completion_length": {"unit": "bytes"}}, "metrics.completion_length"),
        ({"enable": ["completion_length"], "completion_length": {"colour": "red"}}, "metrics.completion_length"),
    ],
)
def test_metric_configuration_errors_name_the_field(plugin, metrics, field):
    with pytest.raises(ConfigError) as error:
        parse_config({"models": ["m"], "problems": {"suite": "x"}, "metrics": metrics})
    assert field in error.value.errors


@pytest.mark.parametrize(
    "path", ["tests.evaluations.metric_plugins.Missing", "tests.evaluations.metric_plugins.NotAMetric"]
)
def test_a_bad_plugin_path_stops_start_up(settings, path):
    settings.CODEQUAL_METRIC_PLUGINS = [path]
    with pytest.raises(ImproperlyConfigured, match="CODEQUAL_METRIC_PLUGINS"):
        load_plugins()
    assert "quality_metrics" in metric_names()
