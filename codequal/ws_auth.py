"""WebSocket authentication: ``Authorization: Bearer`` (API token or JWT) on the handshake, else the session."""

from channels.auth import AuthMiddlewareStack
from channels.db import database_sync_to_async
from channels.middleware import BaseMiddleware
from channels.security.websocket import OriginValidator

from accounts.authentication import user_for_bearer


class BearerTokenMiddleware(BaseMiddleware):
    async def __call__(self, scope, receive, send):
        headers = dict(scope.get("headers") or [])
        value = headers.get(b"authorization", b"").decode("latin-1").split()
        if len(value) == 2 and value[0].lower() in ("bearer", "token"):
            user = await database_sync_to_async(user_for_bearer)(value[1])
            if user is not None:
                scope = dict(scope, user=user)
        return await super().__call__(scope, receive, send)


def TokenOrSessionAuthMiddlewareStack(inner):
    return AuthMiddlewareStack(BearerTokenMiddleware(inner))


class BrowserOriginValidator(OriginValidator):
    """Browsers must connect from an allowed host (stops cross-site WebSocket hijacking of a session);
    clients that send no Origin (CLI, SDK) authenticate with a token and pass."""

    def valid_origin(self, parsed_origin):
        if parsed_origin is None:
            return True
        return super().valid_origin(parsed_origin)


def AllowedHostsBrowserOriginValidator(application):
    from django.conf import settings

    allowed_hosts = settings.ALLOWED_HOSTS
    if settings.DEBUG and not allowed_hosts:
        allowed_hosts = ["localhost", "127.0.0.1", "[::1]"]
    return BrowserOriginValidator(application, allowed_hosts)
