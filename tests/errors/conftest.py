import json
import shutil

import pytest

from codequal.jobs import in_process
from evaluations.runs.services import evaluation_create
from models_registry.services import model_endpoint_create
from tests.evaluations.conftest import DEV_SAMPLES, sandbox_environment  # noqa: F401 - a session fixture

# Completions for the demo suite (tests/evaluations/suite_helpers.py: demo/add is add(a, b), demo/neg is neg(a)).
DEMO_ROWS = [
    {"task_id": "demo/add", "completion": "    return a + b\n"},  # passes
    {"task_id": "demo/add", "completion": "    return math.fsum([a, b])\n"},  # name_error (module)
    {"task_id": "demo/add", "completion": "    return helper(a, b)\n"},  # name_error (helper)
    {"task_id": "demo/add", "completion": "    return a - b\n"},  # wrong_answer
    {"task_id": "demo/add", "completion": "    return (a + b\n"},  # incomplete_code
    {"task_id": "demo/neg", "completion": "    return a.negate()\n"},  # attribute_error
    {"task_id": "demo/neg", "completion": "    import torch\n    return -a\n"},  # import_error
    {"task_id": "demo/neg", "completion": "    return helper(a)\n"},  # name_error (helper)
]


@pytest.fixture
def humaneval_installed(db):
    from evaluations.services import builtin_humaneval_install

    return builtin_humaneval_install().suite


@pytest.fixture(autouse=True)
def _inline(settings, tmp_path):
    settings.CODEQUAL_INLINE_JOBS = "sync"
    settings.SAMPLES_DIR = tmp_path / "samples"
    settings.SAMPLES_DIR.mkdir()
    with in_process():
        yield


def samples_file(settings, name: str, rows: list[dict] | None = None) -> str:
    path = settings.SAMPLES_DIR / name
    if rows is None:
        shutil.copy(DEV_SAMPLES, path)
    else:
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


def run_samples(tenant, path: str, *, suite: str, model: str = "file", name: str = ""):
    """A finished evaluation of the samples in ``path`` by a samples endpoint called ``model``."""
    evaluator = tenant.user("evaluator")
    from models_registry.models import ModelEndpoint

    if not ModelEndpoint.objects.filter(project=tenant.project, name=model).exists():
        model_endpoint_create(actor=evaluator, project=tenant.project, name=model, backend="samples", base_url=path)
    config = {"models": [model], "problems": {"suite": suite}, "evaluation": {"samples_from_file": True}}
    evaluation = evaluation_create(actor=evaluator, project=tenant.project, config=config, name=name)
    evaluation.refresh_from_db()
    assert evaluation.status == "completed", evaluation.error_message
    return evaluation
