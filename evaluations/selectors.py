"""Reads for suites and problems, starting from the tenant-scoped querysets."""

from accounts.models import Project

from .models import BenchmarkSuite, Problem


def suite_list(*, user, project: Project | None = None, include_builtin: bool = True):
    """Suites ``user`` may see: built-in ones and those of their projects (optionally one project's only)."""
    qs = BenchmarkSuite.objects.for_user(user, "view").select_related("project__organization", "created_by")
    if project is not None:
        qs = qs.filter(project=project) | (qs.builtin() if include_builtin else qs.none())
    return qs


def suite_get(*, user, pk) -> BenchmarkSuite | None:
    return suite_list(user=user).filter(pk=pk).first()


def problem_list(*, user, suite: BenchmarkSuite | None = None, filters: dict | None = None):
    qs = Problem.objects.for_user(user, "view").select_related("suite")
    if suite is not None:
        qs = qs.filter(suite=suite)
    for key in ("difficulty", "category", "task_id"):
        if (filters or {}).get(key):
            qs = qs.filter(**{key: filters[key]})
    return qs
