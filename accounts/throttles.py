"""Brute-force protection for logins: by client address and by the username tried."""

from rest_framework.throttling import AnonRateThrottle, SimpleRateThrottle


class LoginRateThrottle(AnonRateThrottle):
    scope = "login"

    def get_cache_key(self, request, view):
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


class LoginUsernameThrottle(SimpleRateThrottle):
    scope = "login_username"

    def get_cache_key(self, request, view):
        data = getattr(request, "data", None) or getattr(request, "POST", {})
        username = str(data.get("username", "") or "").strip().lower()
        if not username:
            return None
        return self.cache_format % {"scope": self.scope, "ident": username[:150]}


LOGIN_THROTTLES = (LoginRateThrottle, LoginUsernameThrottle)


def login_throttle_wait(request, view=None) -> float | None:
    """Seconds to wait before another login attempt is allowed, or None if allowed (counts this attempt)."""
    waits = []
    for throttle_class in LOGIN_THROTTLES:
        throttle = throttle_class()
        if not throttle.allow_request(request, view):
            waits.append(throttle.wait() or 1.0)
    return max(waits) if waits else None
