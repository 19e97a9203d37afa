from datetime import datetime

from django.db import transaction
from django.utils import timezone

from codequal.exceptions import ApplicationError

from ..choices import AuditAction
from ..models import ApiToken
from .audit import audit_record


@transaction.atomic
def api_token_create(*, user, name: str, expires_at: datetime | None = None, request=None) -> tuple[ApiToken, str]:
    """Create a personal API token; returns the row and the plain key, which is never stored or shown again."""
    name = (name or "").strip()
    if not name:
        raise ApplicationError("A token needs a name.", extra={"fields": {"name": ["Required."]}})
    if expires_at is not None and expires_at <= timezone.now():
        raise ApplicationError("The expiry must be in the future.", extra={"fields": {"expires_at": [str(expires_at)]}})
    key = ApiToken.generate_key()
    token = ApiToken.objects.create(
        user=user, name=name, prefix=key[:12], key_hash=ApiToken.hash_key(key), expires_at=expires_at
    )
    audit_record(action=AuditAction.TOKEN_CREATED, actor=user, request=request, target=token, data={"name": name})
    return token, key


@transaction.atomic
def api_token_revoke(*, actor, token: ApiToken, request=None) -> ApiToken:
    """Revoke a token (idempotent); the row stays for the audit trail."""
    token = ApiToken.objects.select_for_update().get(pk=token.pk)
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
        audit_record(
            action=AuditAction.TOKEN_REVOKED, actor=actor, request=request, target=token, data={"name": token.name}
        )
    return token
