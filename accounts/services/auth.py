from ..choices import AuditAction
from .audit import audit_record


def login_succeeded(*, request, user, method: str) -> None:
    """Record a successful login (``method``: "jwt" or "session")."""
    audit_record(action=AuditAction.LOGIN, actor=user, request=request, target=user, data={"method": method})


def login_failed(*, request, username: str, method: str) -> None:
    audit_record(action=AuditAction.LOGIN_FAILED, request=request, data={"username": username[:150], "method": method})


def logout_recorded(*, request, user) -> None:
    audit_record(action=AuditAction.LOGOUT, actor=user, request=request, target=user)
