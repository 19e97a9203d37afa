"""``codequalbench benchmark portal``: server time of the results page for a large evaluation.

The evaluation is written with bulk inserts (no model, no sandbox) into a benchmark project, finalized like a real
run (stored summary), then its results page is requested through Django's test client several times.
"""

import random
import statistics
import time
from dataclasses import asdict, dataclass

from django.conf import settings
from django.db import connection, transaction
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts import services as accounts_services
from accounts.models import Organization, Project
from evaluations.choices import EvaluationStatus
from evaluations.models import BenchmarkSuite, Evaluation, EvaluationModel, Problem, Sample
from evaluations.runs.config import parse_config
from evaluations.runs.results import evaluation_aggregates
from evaluations.services import builtin_humaneval_install

ORGANIZATION = "Benchmarks"
PROJECT = "Portal benchmark"
MODELS = ("bench-model-a", "bench-model-b")
FAILURES = (
    ("failed", "semantic.assertion", "AssertionError"),
    ("error", "semantic.type", "TypeError"),
    ("error", "semantic.name", "NameError"),
    ("error", "syntax.invalid", "SyntaxError"),
    ("timeout", "performance.timeout", "Timeout"),
)


@dataclass(frozen=True)
class PortalFigures:
    database: str
    samples: int
    models: int
    problems: int
    runs: int
    evaluation_id: int
    results_median_s: float
    results_min_s: float
    results_max_s: float
    results_queries: int
    compare_median_s: float
    insert_s: float

    def as_dict(self) -> dict:
        return asdict(self)


def _project(actor) -> Project:
    organization = Organization.objects.for_user(actor, "view").filter(name=ORGANIZATION).first()
    if organization is None:
        organization = accounts_services.organization_create(actor=actor, name=ORGANIZATION)
    project = Project.objects.for_user(actor, "view").filter(organization=organization, name=PROJECT).first()
    return project or accounts_services.project_create(actor=actor, organization=organization, name=PROJECT)


def _suite(actor) -> BenchmarkSuite:
    suite = BenchmarkSuite.objects.filter(project__isnull=True, name="humaneval").order_by("-version").first()
    if suite is None:
        builtin_humaneval_install(actor=actor)
        suite = BenchmarkSuite.objects.filter(project__isnull=True, name="humaneval").order_by("-version").first()
    return suite


def _sample(rng: random.Random, evaluation, run_model, problem, index: int, skill: float) -> Sample:
    passed = rng.random() < skill
    status, category, error = ("passed", "", "") if passed else rng.choice(FAILURES)
    return Sample(
        evaluation=evaluation,
        project_id=evaluation.project_id,
        model=run_model,
        problem=problem,
        strategy="zero_shot",
        index=index,
        completion=f"    return solve_{problem.ordinal}_{index}(x)  # <generated>\n" * 4,
        extraction_method="completion",
        generation_latency_ms=rng.uniform(50, 900),
        completion_tokens=rng.randint(20, 300),
        status=status,
        passed=passed,
        error_category=category,
        error_type=error,
        error_message="" if passed else f"{error}: expected {rng.randint(0, 9)}, got {rng.randint(10, 99)}",
        traceback_tail="" if passed else f'File "<candidate>", line {rng.randint(2, 12)}\n{error}',
        duration_s=rng.uniform(0.005, 0.4),
        peak_memory_kb=rng.randint(9000, 30000),
        metrics={
            "loc": rng.randint(3, 40),
            "cyclomatic_complexity": rng.randint(1, 12),
            "maintainability_index": round(rng.uniform(40, 100), 2),
        },
    )


@transaction.atomic
def evaluation_bulk_create(*, actor, samples: int, seed: int = 0) -> Evaluation:
    """A completed evaluation of ``samples`` samples (two models, all of HumanEval), written with bulk inserts."""
    project, suite = _project(actor), _suite(actor)
    problems = list(Problem.objects.filter(suite=suite).order_by("ordinal"))
    per_problem = -(-samples // (len(MODELS) * len(problems)))
    config = parse_config(
        {
            "models": list(MODELS),
            "problems": {"suite": suite.name},
            "evaluation": {"samples_per_problem": per_problem},
            "metrics": {"k": [1, 10]},
        }
    ).as_dict()
    now = timezone.now()
    evaluation = Evaluation.objects.create(
        project=project,
        name=f"Portal benchmark ({samples} samples)",
        suite=suite,
        config=config,
        problem_ids=[p.pk for p in problems],
        status=EvaluationStatus.COMPLETED,
        created_by=actor,
        started_at=now,
        finished_at=now,
    )
    run_models = [
        EvaluationModel.objects.create(
            evaluation=evaluation, position=i, name=name, snapshot={"backend": "reference", "model": name}
        )
        for i, name in enumerate(MODELS)
    ]
    rng = random.Random(seed)  # noqa: S311 - synthetic benchmark data, not secrets
    rows, written = [], 0
    for position, run_model in enumerate(run_models):
        skill = 0.45 + 0.2 * position
        for problem in problems:
            for index in range(per_problem):
                if written == samples:
                    break
                rows.append(_sample(rng, evaluation, run_model, problem, index, skill))
                written += 1
    Sample.objects.bulk_create(rows, batch_size=2000)
    summary, by_model = evaluation_aggregates(evaluation)
    evaluation.summary = {"summary": summary, "by_model": by_model}
    evaluation.total_samples = evaluation.completed_samples = written
    evaluation.passed_samples = sum(r.passed for r in rows)
    evaluation.save()
    for run_model in run_models:
        run_model.completed_samples = sum(r.model_id == run_model.pk for r in rows)
        run_model.save(update_fields=["completed_samples"])
    return evaluation


def _client(actor) -> Client:
    hosts = [h for h in settings.ALLOWED_HOSTS if h and h != "*" and not h.startswith(".")]
    host = "testserver" if "testserver" in settings.ALLOWED_HOSTS or not hosts else hosts[0]
    client = Client(HTTP_HOST=host)
    client.force_login(actor)
    return client


def _timed(client: Client, url: str, runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        response = client.get(url)
        times.append(time.perf_counter() - started)
        if response.status_code != 200:
            raise RuntimeError(f"{url} answered {response.status_code}")
    return times


def portal_benchmark(*, actor, samples: int = 10_000, runs: int = 7, keep: bool = False) -> PortalFigures:
    """Median server time of the results (and compare) page of a ``samples``-sample evaluation."""
    started = time.perf_counter()
    evaluation = evaluation_bulk_create(actor=actor, samples=samples)
    insert_s = time.perf_counter() - started
    try:
        client = _client(actor)
        results_url = reverse("frontend:evaluation", args=[evaluation.pk])
        _timed(client, results_url, 1)  # warm-up: templates, plotly version, connection
        queries = []
        # Counted with a wrapper: the request_started signal empties connection.queries at each request.
        with connection.execute_wrapper(lambda execute, sql, *args: queries.append(sql) or execute(sql, *args)):
            _timed(client, results_url, 1)
        results = _timed(client, results_url, runs)
        compare = _timed(client, reverse("frontend:compare", args=[evaluation.pk]), runs)
        return PortalFigures(
            database=connection.vendor,
            samples=evaluation.total_samples,
            models=len(MODELS),
            problems=len(evaluation.problem_ids),
            runs=runs,
            evaluation_id=evaluation.pk,
            results_median_s=statistics.median(results),
            results_min_s=min(results),
            results_max_s=max(results),
            results_queries=len(queries),
            compare_median_s=statistics.median(compare),
            insert_s=insert_s,
        )
    finally:
        if not keep:
            evaluation.delete()
