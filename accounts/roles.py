"""Roles and what they may do: the only map from a role to permissions.

Project roles are stored as django-guardian object permissions on Project, organization roles as object
permissions on Organization. Roles are cumulative: each includes everything of the roles below it.
"""

from .choices import OrganizationRole, ProjectRole

# Project actions, each backed by one guardian permission codename on Project.
PROJECT_ACTION_PERMISSIONS = {
    "view": "view_project",
    "evaluate": "evaluate_project",  # run evaluations and tuning, register model endpoints
    "curate": "curate_project",  # edit suites and error patterns
    "manage_members": "manage_project_members",
    "change": "change_project",  # project settings
    "delete": "delete_project",  # delete the project, grant or revoke the owner role
}

PROJECT_ROLE_ORDER = [
    ProjectRole.VIEWER,
    ProjectRole.EVALUATOR,
    ProjectRole.CURATOR,
    ProjectRole.ADMIN,
    ProjectRole.OWNER,
]

_ROLE_ADDS = {
    ProjectRole.VIEWER: {"view"},
    ProjectRole.EVALUATOR: {"evaluate"},
    ProjectRole.CURATOR: {"curate"},
    ProjectRole.ADMIN: {"manage_members", "change"},
    ProjectRole.OWNER: {"delete"},
}


def _cumulative() -> dict[str, frozenset[str]]:
    granted: set[str] = set()
    result = {}
    for role in PROJECT_ROLE_ORDER:
        granted |= _ROLE_ADDS[role]
        result[role] = frozenset(granted)
    return result


PROJECT_ROLE_ACTIONS: dict[str, frozenset[str]] = _cumulative()

# Organization actions, each backed by one guardian permission codename on Organization.
ORGANIZATION_ACTION_PERMISSIONS = {
    "view": "view_organization",
    "change": "change_organization",
    "delete": "delete_organization",
    "manage_members": "manage_organization_members",
    "add_project": "add_project_to_organization",
    # An organization owner acts as owner of every project in it.
    "administer_projects": "administer_organization_projects",
}

ORGANIZATION_ROLE_ACTIONS: dict[str, frozenset[str]] = {
    OrganizationRole.MEMBER: frozenset({"view"}),
    OrganizationRole.OWNER: frozenset(ORGANIZATION_ACTION_PERMISSIONS),
}


def project_permissions_for_role(role: str) -> set[str]:
    return {PROJECT_ACTION_PERMISSIONS[action] for action in PROJECT_ROLE_ACTIONS[role]}


def organization_permissions_for_role(role: str) -> set[str]:
    return {ORGANIZATION_ACTION_PERMISSIONS[action] for action in ORGANIZATION_ROLE_ACTIONS[role]}


def role_can(role: str, action: str) -> bool:
    return action in PROJECT_ROLE_ACTIONS[role]
