"""The per-endpoint rate limit: every request attempt (retries included) waits for its turn, shared by all workers."""

import threading
import time
import uuid

import pytest
from django.conf import settings
from django.urls import reverse

from models_registry.backends import ErrorKind, GenerationRequest, Timeouts
from models_registry.backends.base import RATE_LIMIT_PREFIX, _RateLimits
from models_registry.models import ModelEndpoint
from models_registry.selectors import endpoint_config

from .helpers import backend_for
from .servers import FakeOllama
from .test_admin import form_data, root  # noqa: F401 - the admin fixture
from .test_api import URL, register


class ArrivalsOllama(FakeOllama):
    """Ollama that notes when each request arrives (whatever it is scripted to answer)."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.arrivals: list[float] = []

    def next_behaviour(self):
        self.arrivals.append(time.monotonic())
        return super().next_behaviour()


@pytest.fixture
def server():
    server = ArrivalsOllama()
    yield server
    server.close()


def limited(server, per_minute, *, key=None, **overrides):
    key = key or f"test:{uuid.uuid4()}"
    backend = backend_for(server, "ollama", rate_limit_per_minute=per_minute, limiter_key=key, **overrides)
    backend._client()  # build the HTTP client now (it takes a while): the timings measured are the limiter's alone
    return backend


def on_schedule(arrivals, per_minute, burst) -> tuple[bool, list[float]]:
    """Whether the requests came at the turns the limit gives: ``burst`` of them at once, then 60/limit s apart, give
    or take 0.15 s."""
    offsets = [round(a - min(arrivals), 2) for a in sorted(arrivals)]
    expected = [max(0, k - burst + 1) * 60 / per_minute for k in range(len(arrivals))]
    return all(abs(got - want) <= 0.15 for got, want in zip(offsets, expected, strict=True)), offsets


def test_requests_are_spread_evenly_over_the_minute(server):
    # 120 a minute: a turn every 0.5 s, bursts of a second's share (2).
    result = limited(server, 120).generate(GenerationRequest(prompt="x", n=6))
    assert result.ok, result.error
    assert len(server.arrivals) == 6
    ok, offsets = on_schedule(server.arrivals, 120, burst=2)
    assert ok, offsets


def test_retries_wait_for_their_turn_too(server):
    server.script(("status", 500, {}, {"error": "busy"}), ("status", 500, {}, {"error": "busy"}))
    result = limited(server, 120).generate(GenerationRequest(prompt="x"))
    assert result.ok and result.attempts == 3
    ok, offsets = on_schedule(server.arrivals, 120, burst=2)
    assert len(server.arrivals) == 3 and ok, offsets


def test_a_turn_beyond_the_total_timeout_is_a_rate_limited_error_naming_the_endpoints_limit(server):
    backend = limited(server, 1, timeouts=Timeouts(connect=2.0, read=0.5, total=0.5))
    started = time.monotonic()
    result = backend.generate(GenerationRequest(prompt="x", n=2))
    assert time.monotonic() - started < 0.5
    assert [s.index for s in result.samples] == [0] and len(server.arrivals) == 1
    assert result.error.kind == ErrorKind.RATE_LIMITED and result.error.status_code is None
    assert "endpoint's own rate limit (1 requests a minute, rate_limit_per_minute)" in result.error.message
    assert "within 0.5s" in result.error.message


def test_the_limit_is_per_endpoint(server):
    first = limited(server, 60)  # a turn a second, no burst
    other = limited(server, 60)
    same = limited(server, 60, key=first.config.limiter_key)
    for backend in (first, other, same):
        assert backend.generate(GenerationRequest(prompt="x")).ok
    arrived = [round(a - server.arrivals[0], 2) for a in server.arrivals]
    assert arrived[1] < 0.6, arrived  # another endpoint's limit does not hold this one back
    assert arrived[2] >= 0.8, arrived  # an adapter for the same endpoint shares its turns


def test_unlimited_by_default(server):
    started = time.monotonic()
    assert backend_for(server, "ollama").generate(GenerationRequest(prompt="x", n=5)).ok
    assert time.monotonic() - started < 0.5


@pytest.mark.redis
def test_workers_share_the_limit_through_redis(server):
    import redis

    key = f"test:{uuid.uuid4()}"
    workers = [limited(server, 120, key=key, rate_limit_redis_url=settings.REDIS_URL) for _ in range(2)]
    results = []
    threads = [
        threading.Thread(target=lambda w=w: results.append(w.generate(GenerationRequest(prompt="x", n=3))))
        for w in workers
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(r.ok for r in results) and len(server.arrivals) == 6
    ok, offsets = on_schedule(server.arrivals, 120, burst=2)
    assert ok, offsets
    client = redis.Redis.from_url(settings.REDIS_URL)
    assert client.pttl(RATE_LIMIT_PREFIX + key) > 0  # the turns live in Redis, and expire
    assert key not in _RateLimits._next  # not in this process


@pytest.mark.redis
def test_an_unreachable_redis_is_a_connection_error(server):
    backend = limited(server, 120, rate_limit_redis_url="redis://127.0.0.1:1/0")
    result = backend.generate(GenerationRequest(prompt="x"))
    assert result.error.kind == ErrorKind.CONNECTION and "rate limiter's Redis" in result.error.message
    assert server.arrivals == []


# --- the field ---------------------------------------------------------------------------------------------------
@pytest.mark.django_db
@pytest.mark.parametrize("value", [0, -1, 100_001, "lots", 1.5, True])
def test_the_api_refuses_a_bad_limit(api, world, ollama, value):
    api.force_authenticate(world.a.user("evaluator"))
    body = {"project": world.a.project.pk, "name": "m", "backend": "ollama", "base_url": ollama.url}
    response = api.post(URL, {**body, "rate_limit_per_minute": value}, format="json")
    assert response.status_code == 400
    assert response.json()["extra"]["fields"]["rate_limit_per_minute"]
    assert not ModelEndpoint.objects.exists()


@pytest.mark.django_db
def test_the_api_sets_and_clears_the_limit_and_the_adapter_gets_it(api, world, openai_server):
    data = register(api, world, openai_server, rate_limit_per_minute=600).json()
    assert data["rate_limit_per_minute"] == 600
    config = endpoint_config(ModelEndpoint.objects.get(pk=data["id"]))
    assert (config.rate_limit_per_minute, config.limiter_key) == (600, f"endpoint:{data['id']}")
    assert config.rate_limit_redis_url == settings.REDIS_URL
    cleared = api.patch(f"{URL}/{data['id']}", {"rate_limit_per_minute": None}, format="json")
    assert cleared.status_code == 200 and cleared.json()["rate_limit_per_minute"] is None
    assert endpoint_config(ModelEndpoint.objects.get(pk=data["id"])).rate_limit_per_minute is None


@pytest.mark.django_db
def test_the_admin_form_validates_the_limit(root, world, ollama):  # noqa: F811 - the admin fixture
    add = reverse("admin:models_registry_modelendpoint_add")
    refused = root.post(add, form_data(world.a.project, ollama, rate_limit_per_minute="100001"))
    assert refused.status_code == 200 and "Must be between 1 and 100000." in refused.text
    saved = root.post(add, form_data(world.a.project, ollama, rate_limit_per_minute="300"))
    assert saved.status_code == 302 and ModelEndpoint.objects.get().rate_limit_per_minute == 300
