from .audit import AuditLog
from .tenancy import (
    Membership,
    Organization,
    OrganizationMembership,
    OrganizationUserObjectPermission,
    Project,
    ProjectUserObjectPermission,
)
from .tokens import ApiToken

__all__ = [
    "ApiToken",
    "AuditLog",
    "Membership",
    "Organization",
    "OrganizationMembership",
    "OrganizationUserObjectPermission",
    "Project",
    "ProjectUserObjectPermission",
]
