import pytest
from django.conf import settings
from django.core.cache import cache
from rest_framework.test import APIClient

from tests.factories import TenantWorld, make_world


def pytest_collection_modifyitems(config, items):
    if settings.REDIS_URL:
        return
    skip = pytest.mark.skip(reason="needs REDIS_URL: a real Redis server (CI runs these against one)")
    for item in items:
        if "redis" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _clean_cache():
    # Throttle counters live in the cache (Redis when configured): start every test from zero.
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def api():
    return APIClient()


@pytest.fixture
def world(db) -> TenantWorld:
    """Two tenants, each with an organization, a project and one user per role (see tests/factories.py)."""
    return make_world()
