"""The adapter interface: retries, concurrency and rate limits, URL policy and secret redaction live here, once."""

import logging
import random
import threading
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import replace
from typing import ClassVar, TypeVar

from ..urlguard import UrlPolicy, validate_base_url
from .types import (
    BackendError,
    Capabilities,
    EndpointConfig,
    ErrorKind,
    GenerationOptions,
    GenerationRequest,
    GenerationResult,
    HealthReport,
    Sample,
)

logger = logging.getLogger(__name__)
T = TypeVar("T")
RETRYABLE = {ErrorKind.TIMEOUT, ErrorKind.CONNECTION, ErrorKind.RATE_LIMITED, ErrorKind.SERVER_ERROR}
MAX_SAMPLES = 100
RATE_LIMIT_PREFIX = "cqb:ratelimit:"
# GCRA (a leaky bucket that remembers one timestamp): the next free turn of a key. A turn is reserved at once, so
# waiters are served in order; one that would wait longer than ARGV[3] seconds reserves nothing. Redis's own clock
# keeps workers on machines whose clocks differ in step.
RATE_LIMIT_SCRIPT = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local interval, burst, max_wait = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local tat = math.max(tonumber(redis.call('GET', KEYS[1]) or '0'), now)
local wait = math.max(0, tat - (burst - 1) * interval - now)
if wait > max_wait then
    return {0, tostring(wait)}
end
redis.call('SET', KEYS[1], tostring(tat + interval), 'PX', math.ceil((tat + interval - now) * 1000) + 1000)
return {1, tostring(wait)}
"""


class BackendFailure(Exception):
    """Raised inside an adapter; ``generate``/``health`` turn it into a BackendError value."""

    def __init__(
        self,
        kind: ErrorKind,
        message: str,
        *,
        status_code: int | None = None,
        retry_after: float | None = None,
        retryable: bool | None = None,
    ):
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.status_code = status_code
        self.retry_after = retry_after
        self.retryable = kind in RETRYABLE if retryable is None else retryable


class _Limiter:
    """Per-endpoint semaphores shared by every thread of this process."""

    _lock = threading.Lock()
    _slots: ClassVar[dict[tuple[str, int], threading.BoundedSemaphore]] = {}

    @classmethod
    def get(cls, key: str, limit: int) -> threading.BoundedSemaphore:
        with cls._lock:
            return cls._slots.setdefault((key, limit), threading.BoundedSemaphore(max(1, limit)))


class _RateLimits:
    """The same GCRA as ``RATE_LIMIT_SCRIPT`` for one process (no REDIS_URL): next free turn per limiter key."""

    _lock = threading.Lock()
    _next: ClassVar[dict[str, float]] = {}
    _scripts: ClassVar[dict[str, object]] = {}

    @classmethod
    def reserve(cls, key: str, interval: float, burst: int, max_wait: float) -> tuple[bool, float]:
        with cls._lock:
            now = time.monotonic()
            tat = max(cls._next.get(key, now), now)
            wait = max(0.0, tat - (burst - 1) * interval - now)
            if wait > max_wait:
                return False, wait
            cls._next[key] = tat + interval
            return True, wait

    @classmethod
    def reserve_shared(cls, url: str, key: str, interval: float, burst: int, max_wait: float) -> tuple[bool, float]:
        import redis

        with cls._lock:
            if url not in cls._scripts:
                client = redis.Redis.from_url(url, socket_connect_timeout=5, socket_timeout=5)
                cls._scripts[url] = client.register_script(RATE_LIMIT_SCRIPT)
            script = cls._scripts[url]
        try:
            granted, wait = script(keys=[RATE_LIMIT_PREFIX + key], args=[repr(interval), burst, repr(max_wait)])
        except redis.RedisError as exc:
            raise BackendFailure(
                ErrorKind.CONNECTION, f"The rate limiter's Redis (REDIS_URL) failed: {type(exc).__name__}."
            ) from exc
        return bool(int(granted)), float(wait)


def redact(text: str, secret: str) -> str:
    if secret and len(secret) >= 4 and text:
        return text.replace(secret, "[redacted]")
    return text


class GenerationBackend:
    """One adapter per backend key. Subclasses implement ``capabilities``, ``_generate`` and ``_health``.

    ``_generate`` yields samples and calls the server through ``self.attempt(fn)``, which retries; anything it
    raises as ``BackendFailure`` comes back to the caller as a value. An adapter may be shared by threads; it keeps
    its connections until ``close()`` (or the end of a ``with`` block).
    """

    key: ClassVar[str] = ""

    def __init__(self, config: EndpointConfig):
        self.config = config
        self._lock = threading.Lock()
        self._shared = None
        self._state = threading.local()  # per-call counters: one adapter may serve several threads at once

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    # --- to implement -------------------------------------------------------------------------------------------
    @classmethod
    def capabilities(cls) -> Capabilities:
        raise NotImplementedError

    def _generate(self, request: GenerationRequest, options: GenerationOptions):
        """Yield ``Sample`` objects, ``request.n`` of them, in index order."""
        raise NotImplementedError

    def _health(self) -> tuple[str, tuple[str, ...]]:
        """Return (message, models served); raise BackendFailure when unhealthy."""
        raise NotImplementedError

    @classmethod
    def validate_location(cls, location: str, *, policy: UrlPolicy | None = None) -> str:
        """The endpoint's normalised base URL; raises ``ValueError`` (``UrlRefused``) naming what is wrong.

        Local backends (a checkpoint directory, a samples file, none at all) override this with their own rules.
        """
        return validate_base_url(location, policy=policy)

    def close(self) -> None:
        """Release the connections kept between calls."""
        with self._lock:
            client, self._shared = self._shared, None
        if client is not None:
            client.close()

    # --- the public interface -----------------------------------------------------------------------------------
    def generate(self, request: GenerationRequest) -> GenerationResult:
        """``request.n`` samples, or an error value; the request's options override the endpoint's defaults."""
        started = time.monotonic()
        samples: list[Sample] = []
        self._state.attempts, self._state.usage = 0, None
        error = None
        try:
            if not 1 <= request.n <= MAX_SAMPLES:
                raise BackendFailure(ErrorKind.CONFIGURATION, f"n must be between 1 and {MAX_SAMPLES}.")
            if self.config.api_style not in self.capabilities().styles:
                raise BackendFailure(
                    ErrorKind.CONFIGURATION, f"The {self.key} backend does not serve {self.config.api_style} requests."
                )
            self._check_url()
            options = request.options.over(self.config.default_options)
            with self._slot():
                samples.extend(self._generate(request, options))
        except BackendFailure as failure:
            error = self._error(failure)
        return self._result(samples, error, started)

    def health(self) -> HealthReport:
        """Whether the server answers and serves the configured model."""
        started = time.monotonic()
        self._state.attempts, self._state.usage = 0, None
        try:
            self._check_url()
            with self._slot():
                message, models = self._health()
            return HealthReport(healthy=True, message=message, latency_ms=_ms(started), models=models, error=None)
        except BackendFailure as failure:
            error = self._error(failure)
            return HealthReport(healthy=False, message=error.message, latency_ms=_ms(started), error=error)

    # --- helpers for adapters -----------------------------------------------------------------------------------
    def shared_client(self, build: Callable[[], T]) -> T:
        """The client kept between calls (built once, thread-safely); ``close()`` closes it."""
        with self._lock:
            if self._shared is None:
                self._shared = build()
            return self._shared

    def shared_sdk_client(self, client_class, *, no_key: str):
        """An official SDK client (openai, anthropic) over our HTTP client: our timeouts, no redirects, and its own
        retries off, since retries are ours and the same for every backend. ``no_key`` stands in for a missing key
        (keyless self-hosted servers), so the SDK does not go looking for one in the environment."""
        from .http import make_client

        def build():
            http = make_client(self.config)
            return client_class(
                api_key=self.config.api_key or no_key,
                base_url=self.config.base_url,
                max_retries=0,
                timeout=http.timeout,
                http_client=http,
            )

        return self.shared_client(build)

    def report_usage(self, prompt_tokens: int | None, completion_tokens: int | None) -> None:
        """For servers that count tokens per request of n samples rather than per sample."""
        self._state.usage = (prompt_tokens, completion_tokens)

    def attempt(self, call: Callable[[], T], *, what: str = "request") -> T:
        """Run ``call`` with retries on timeouts, connection errors, 429 and 5xx (honouring Retry-After)."""
        policy = self.config.retry
        for number in range(1, policy.max_retries + 2):
            self._state.attempts += 1
            try:
                self._wait_for_turn()
                return call()
            except BackendFailure as failure:
                if not failure.retryable or number > policy.max_retries:
                    if failure.retryable and number > 1:
                        failure.message = f"Gave up after {number} attempts: {failure.message}"
                    raise
                delay = self._delay(number, failure)
                logger.warning(
                    "%s endpoint %s: %s failed (%s), retry %d of %d in %.2fs",
                    self.key,
                    self.config.model,
                    what,
                    redact(failure.message, self.config.api_key),
                    number,
                    policy.max_retries,
                    delay,
                )
                time.sleep(delay)
        raise AssertionError("unreachable")

    def deadline(self) -> float:
        return time.monotonic() + self.config.timeouts.total

    def check_deadline(self, deadline: float) -> None:
        if time.monotonic() > deadline:
            raise BackendFailure(
                ErrorKind.TIMEOUT, f"The response took longer than {self.config.timeouts.total:g}s in total."
            )

    # --- internals ----------------------------------------------------------------------------------------------
    def _delay(self, number: int, failure: BackendFailure) -> float:
        policy = self.config.retry
        if failure.retry_after is not None:
            if failure.retry_after > policy.max_retry_after:
                raise BackendFailure(
                    failure.kind,
                    f"{failure.message} The server asks to wait {failure.retry_after:g}s, longer than the "
                    f"{policy.max_retry_after:g}s allowed (MODEL_RETRY_AFTER_MAX).",
                    status_code=failure.status_code,
                )
            return failure.retry_after
        ceiling = min(policy.backoff_max, policy.backoff_base * 2 ** (number - 1))
        return ceiling / 2 + random.uniform(0, ceiling / 2)  # noqa: S311 - jitter, not cryptography

    def _check_url(self) -> None:
        try:
            self.validate_location(self.config.base_url, policy=self.config.url_policy)
        except ValueError as exc:
            raise BackendFailure(ErrorKind.URL_REFUSED, str(exc)) from exc

    def _limiter_key(self) -> str:
        return self.config.limiter_key or f"{self.key}|{self.config.base_url}|{self.config.model}"

    @contextmanager
    def _slot(self):
        semaphore = _Limiter.get(self._limiter_key(), self.config.max_concurrency)
        with semaphore:
            yield

    def _wait_for_turn(self) -> None:
        """Sleep until the endpoint's own rate limit gives this request a turn, at most one attempt's total time.

        The limit is spread evenly over the minute (turns 60/limit seconds apart, bursts of at most a second's
        share), as hosted APIs enforce theirs over short intervals too.
        """
        limit = self.config.rate_limit_per_minute
        if not limit:
            return
        interval, burst, max_wait = 60.0 / limit, max(1, limit // 60), self.config.timeouts.total
        if self.config.rate_limit_redis_url:
            args = (self.config.rate_limit_redis_url, self._limiter_key(), interval, burst, max_wait)
            granted, wait = _RateLimits.reserve_shared(*args)
        else:
            granted, wait = _RateLimits.reserve(self._limiter_key(), interval, burst, max_wait)
        if not granted:
            raise BackendFailure(
                ErrorKind.RATE_LIMITED,
                f"The endpoint's own rate limit ({limit} requests a minute, rate_limit_per_minute) gives this "
                f"request no turn within {max_wait:g}s, an attempt's total time (the next turn is in {wait:.0f}s). "
                "Raise the limit or run fewer evaluations on this endpoint at once.",
                retryable=False,
            )
        if wait > 0:
            time.sleep(wait)

    def _error(self, failure: BackendFailure) -> BackendError:
        return BackendError(
            kind=failure.kind,
            message=redact(failure.message, self.config.api_key),
            status_code=failure.status_code,
            attempts=max(1, self._state.attempts),
        )

    def _result(self, samples: list[Sample], error: BackendError | None, started: float) -> GenerationResult:
        key = self.config.api_key
        clean = tuple(s if key not in s.text or len(key) < 4 else _with_text(s, redact(s.text, key)) for s in samples)
        prompt_tokens = _total(s.prompt_tokens for s in clean)
        completion_tokens = _total(s.completion_tokens for s in clean)
        if self._state.usage is not None:
            prompt_tokens, completion_tokens = self._state.usage
        return GenerationResult(
            samples=clean,
            error=error,
            latency_ms=_ms(started),
            attempts=max(1, self._state.attempts),
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            cost_usd=self.config.cost(prompt_tokens, completion_tokens) if clean else None,
        )


def _with_text(sample: Sample, text: str) -> Sample:
    return replace(sample, text=text)


def _total(values) -> int | None:
    values = list(values)
    if not values or any(v is None for v in values):
        return None
    return sum(values)


def _ms(started: float) -> float:
    return round((time.monotonic() - started) * 1000, 1)
