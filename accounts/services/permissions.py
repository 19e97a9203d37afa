"""Derive guardian object permissions from membership roles (the rows stay the source of truth)."""

from django.contrib.auth.models import Permission
from django.contrib.contenttypes.models import ContentType

from ..models import Organization, OrganizationUserObjectPermission, Project, ProjectUserObjectPermission
from ..roles import organization_permissions_for_role, project_permissions_for_role


def _permissions(model, codenames: set[str]) -> list[Permission]:
    ct = ContentType.objects.get_for_model(model)
    found = list(Permission.objects.filter(content_type=ct, codename__in=codenames))
    if len(found) != len(codenames):
        missing = codenames - {p.codename for p in found}
        raise RuntimeError(f"Permissions missing from the database (run migrate): {sorted(missing)}")
    return found


def project_permissions_sync(*, user, project: Project, role: str | None) -> None:
    ProjectUserObjectPermission.objects.filter(user=user, content_object=project).delete()
    if role is None:
        return
    ProjectUserObjectPermission.objects.bulk_create(
        ProjectUserObjectPermission(user=user, content_object=project, permission=perm)
        for perm in _permissions(Project, project_permissions_for_role(role))
    )


def organization_permissions_sync(*, user, organization: Organization, role: str | None) -> None:
    OrganizationUserObjectPermission.objects.filter(user=user, content_object=organization).delete()
    if role is None:
        return
    OrganizationUserObjectPermission.objects.bulk_create(
        OrganizationUserObjectPermission(user=user, content_object=organization, permission=perm)
        for perm in _permissions(Organization, organization_permissions_for_role(role))
    )
