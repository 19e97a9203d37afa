"""Probes and JSON error pages."""

import redis
from django.conf import settings
from django.db import connection
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.defaults import page_not_found, server_error


def readiness_checks() -> dict[str, dict]:
    """Database (and Redis, when configured) reachability; errors name the failure type, never a URL or secret."""
    checks: dict[str, dict] = {}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
        checks["database"] = {"ok": True, "vendor": connection.vendor}
    except Exception as exc:
        checks["database"] = {"ok": False, "error": type(exc).__name__}
    if settings.REDIS_URL:
        try:
            client = redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=2, socket_timeout=2)
            client.ping()
            client.close()
            checks["redis"] = {"ok": True}
        except Exception as exc:
            checks["redis"] = {"ok": False, "error": type(exc).__name__}
    return checks


@never_cache
def health(request):
    """Liveness: the process answers."""
    return JsonResponse({"status": "ok"})


@never_cache
def ready(request):
    """Readiness: the database answers, and Redis when REDIS_URL is set."""
    checks = readiness_checks()
    ok = all(c["ok"] for c in checks.values())
    return JsonResponse({"status": "ready" if ok else "unavailable", "checks": checks}, status=200 if ok else 503)


def not_found(request, exception=None):
    if request.path.startswith("/api/"):
        return JsonResponse({"message": "Not found.", "extra": {}}, status=404)
    return page_not_found(request, exception)


def server_failure(request):
    if request.path.startswith("/api/"):
        return JsonResponse({"message": "Internal server error.", "extra": {}}, status=500)
    return server_error(request)
