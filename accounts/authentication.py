"""API authentication: personal API tokens and JWT access tokens, both sent as ``Authorization: Bearer …``."""

from datetime import timedelta

from django.utils import timezone
from rest_framework import authentication, exceptions
from rest_framework_simplejwt.authentication import JWTAuthentication

from .models import ApiToken
from .models.tokens import TOKEN_PREFIX

# last_used_at is written at most this often per token, so reads do not turn into writes on every request.
LAST_USED_GRANULARITY = timedelta(minutes=1)


def _bearer_value(request) -> str | None:
    header = authentication.get_authorization_header(request).split()
    if len(header) != 2 or header[0].lower() not in (b"bearer", b"token"):
        return None
    try:
        return header[1].decode()
    except UnicodeDecodeError:
        return None


def user_for_api_token(key: str):
    """The active user behind a usable API token, or None. Shared by HTTP and WebSocket authentication."""
    if not key.startswith(TOKEN_PREFIX):
        return None
    token = ApiToken.objects.usable().select_related("user").filter(key_hash=ApiToken.hash_key(key)).first()
    if token is None or not token.user.is_active:
        return None
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at > LAST_USED_GRANULARITY:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token.user


class ApiTokenAuthentication(authentication.BaseAuthentication):
    """``Authorization: Bearer cqb_…`` (or ``Token cqb_…``)."""

    def authenticate(self, request):
        key = _bearer_value(request)
        if key is None or not key.startswith(TOKEN_PREFIX):
            return None
        user = user_for_api_token(key)
        if user is None:
            raise exceptions.AuthenticationFailed("Invalid, expired or revoked API token.")
        return user, None

    def authenticate_header(self, request):
        return 'Bearer realm="api"'


class BearerJWTAuthentication(JWTAuthentication):
    """JWT access tokens from ``POST /api/v1/auth/login``; API tokens are left to ApiTokenAuthentication."""

    def authenticate(self, request):
        key = _bearer_value(request)
        if key is not None and key.startswith(TOKEN_PREFIX):
            return None
        return super().authenticate(request)


def user_for_jwt(raw: str):
    """The active user behind a valid JWT access token, or None (for WebSocket authentication)."""
    auth = JWTAuthentication()
    try:
        validated = auth.get_validated_token(raw.encode())
        user = auth.get_user(validated)
    except exceptions.AuthenticationFailed:
        return None
    except Exception:  # InvalidToken and friends
        return None
    return user if user.is_active else None


def user_for_bearer(raw: str):
    return user_for_api_token(raw) if raw.startswith(TOKEN_PREFIX) else user_for_jwt(raw)
