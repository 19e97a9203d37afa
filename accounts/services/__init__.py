"""Writes for accounts: keyword-only, transactional, audited. Callers pass objects from scoped selectors."""

from .audit import audit_record
from .auth import login_failed, login_succeeded, logout_recorded
from .bootstrap import BootstrapResult, platform_bootstrap
from .organizations import (
    organization_create,
    organization_delete,
    organization_member_add,
    organization_member_remove,
    organization_member_set_role,
    organization_update,
)
from .projects import (
    membership_create,
    membership_delete,
    membership_set_role,
    project_create,
    project_delete,
    project_update,
)
from .tokens import api_token_create, api_token_revoke

__all__ = [
    "BootstrapResult",
    "api_token_create",
    "api_token_revoke",
    "audit_record",
    "login_failed",
    "login_succeeded",
    "logout_recorded",
    "membership_create",
    "membership_delete",
    "membership_set_role",
    "organization_create",
    "organization_delete",
    "organization_member_add",
    "organization_member_remove",
    "organization_member_set_role",
    "organization_update",
    "platform_bootstrap",
    "project_create",
    "project_delete",
    "project_update",
]
