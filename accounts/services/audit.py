from django.db import models

from ..choices import AuditAction
from ..models import AuditLog


def _client_ip(request) -> str | None:
    if request is None:
        return None
    return request.META.get("REMOTE_ADDR") or None


def audit_record(
    *,
    action: AuditAction,
    actor=None,
    request=None,
    organization=None,
    project=None,
    target: models.Model | None = None,
    data: dict | None = None,
) -> AuditLog:
    """Append one audit entry; the actor defaults to the request's user."""
    if actor is None and request is not None and getattr(request, "user", None) is not None:
        actor = request.user if request.user.is_authenticated else None
    if project is not None and organization is None:
        organization = project.organization
    return AuditLog.objects.create(
        action=action,
        actor=actor,
        actor_username=actor.get_username() if actor is not None else "",
        organization=organization,
        project=project,
        target_type=target._meta.label_lower if target is not None else "",
        target_id=str(target.pk) if target is not None else "",
        target_repr=str(target)[:200] if target is not None else "",
        ip_address=_client_ip(request),
        user_agent=(request.META.get("HTTP_USER_AGENT", "")[:300] if request is not None else ""),
        data=data or {},
    )
