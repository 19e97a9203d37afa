"""Tenant scoping: the only code that knows memberships, roles and guardian rules.

Every tenant-owned model's manager has ``for_user(user, action)``; API views, pages, admin and consumers start
from it. ``action`` is a CRUD verb ("view", "add", "change", "delete") that each model maps to a project or
organization action through ``scope_actions``.
"""

from django.db import models
from guardian.shortcuts import get_objects_for_user

from .roles import ORGANIZATION_ACTION_PERMISSIONS, PROJECT_ACTION_PERMISSIONS


def _is_active(user) -> bool:
    return bool(user is not None and user.is_authenticated and user.is_active)


def _guardian_scope(queryset, user, codename: str):
    return get_objects_for_user(
        user,
        f"accounts.{codename}",
        klass=queryset,
        use_groups=False,
        accept_global_perms=False,
        with_superuser=False,
    )


class OrganizationQuerySet(models.QuerySet):
    def for_user(self, user, action: str = "view"):
        org_action = self.model.scope_actions.get(action, action)
        if not _is_active(user):
            return self.none()
        if user.is_superuser:
            return self
        return self.filter(
            pk__in=_guardian_scope(self.model.objects.all(), user, ORGANIZATION_ACTION_PERMISSIONS[org_action]).values(
                "pk"
            )
        )


class ProjectQuerySet(models.QuerySet):
    def for_user(self, user, action: str = "view"):
        project_action = self.model.scope_actions.get(action, action)
        if not _is_active(user):
            return self.none()
        if user.is_superuser:
            return self
        from .models import Organization

        direct = _guardian_scope(self.model.objects.all(), user, PROJECT_ACTION_PERMISSIONS[project_action])
        administered = Organization.objects.for_user(user, "administer_projects")
        return self.filter(models.Q(pk__in=direct.values("pk")) | models.Q(organization__in=administered.values("pk")))


class ProjectScopedQuerySet(models.QuerySet):
    """Rows that reach Project through ``model.project_path``; access follows the user's role in that project."""

    def for_user(self, user, action: str = "view"):
        from .models import Project

        project_action = self.model.scope_actions.get(action, action)
        projects = Project.objects.for_user(user, project_action)
        return self.filter(**{f"{self.model.project_path}__in": projects.values("pk")})


class OrganizationScopedQuerySet(models.QuerySet):
    """Rows that reach Organization through ``model.organization_path``."""

    def for_user(self, user, action: str = "view"):
        from .models import Organization

        orgs = Organization.objects.for_user(user, self.model.scope_actions.get(action, action))
        return self.filter(**{f"{self.model.organization_path}__in": orgs.values("pk")})
