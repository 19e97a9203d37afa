from django.db import transaction

from codequal.exceptions import ApplicationError, ConflictError
from codequal.realtime import notify

from ..choices import AuditAction, ProjectRole
from ..models import Membership, Organization, Project
from ..selectors import project_user_can
from .audit import audit_record
from .common import apply_changes, ensure_slug_free, name_and_slug_changes, unique_slug
from .organizations import organization_member_ensure
from .permissions import project_permissions_sync

SLUG_TAKEN = "That project slug is taken in this organization."


@transaction.atomic
def project_create(
    *, actor, organization: Organization, name: str, slug: str | None = None, description: str = "", request=None
) -> Project:
    """Create a project in ``organization``; ``actor`` becomes its owner."""
    name = (name or "").strip()
    if not name:
        raise ApplicationError("A project needs a name.", extra={"fields": {"name": ["Required."]}})
    if slug:
        ensure_slug_free(organization.projects.all(), slug, SLUG_TAKEN)
    else:
        slug = unique_slug(Project, name, organization=organization)
    project = Project.objects.create(organization=organization, name=name, slug=slug, description=description or "")
    audit_record(action=AuditAction.PROJECT_CREATED, actor=actor, request=request, project=project, target=project)
    _membership_write(actor=actor, project=project, user=actor, role=ProjectRole.OWNER, request=request)
    return project


@transaction.atomic
def project_update(
    *,
    actor,
    project: Project,
    name: str | None = None,
    slug: str | None = None,
    description: str | None = None,
    request=None,
) -> Project:
    changes = name_and_slug_changes(project, name=name, slug=slug)
    if "slug" in changes:
        ensure_slug_free(
            Project.objects.filter(organization_id=project.organization_id), slug, SLUG_TAKEN, exclude_pk=project.pk
        )
    if description is not None and description != project.description:
        changes["description"] = description
    if apply_changes(project, changes):
        audit_record(
            action=AuditAction.PROJECT_UPDATED,
            actor=actor,
            request=request,
            project=project,
            target=project,
            data={k: v for k, v in changes.items() if k != "description"},
        )
    return project


@transaction.atomic
def project_delete(*, actor, project: Project, request=None) -> None:
    audit_record(
        action=AuditAction.PROJECT_DELETED,
        actor=actor,
        request=request,
        organization=project.organization,
        target=project,
        data={"name": project.name, "slug": project.slug},
    )
    project.delete()


def _membership_write(*, actor, project: Project, user, role: str, request) -> Membership:
    membership, created = Membership.objects.get_or_create(project=project, user=user, defaults={"role": role})
    if not created and membership.role == role:
        return membership
    old_role = None if created else membership.role
    if not created:
        membership.role = role
        membership.save(update_fields=["role", "updated_at"])
    organization_member_ensure(actor=actor, organization=project.organization, user=user, request=request)
    project_permissions_sync(user=user, project=project, role=role)
    audit_record(
        action=AuditAction.MEMBER_ADDED if created else AuditAction.MEMBER_ROLE_CHANGED,
        actor=actor,
        request=request,
        project=project,
        target=user,
        data={"role": role, "previous_role": old_role},
    )
    notify(f"project:{project.pk}", "membership", {"user": user.get_username(), "role": role})
    return membership


def _check_owner_change(*, actor, project: Project, roles: set[str]) -> None:
    # Admins manage members, but only an owner can grant, change or revoke the owner role.
    if ProjectRole.OWNER in roles and not project_user_can(user=actor, project=project, action="delete"):
        raise ApplicationError("Only a project owner can grant, change or revoke the owner role.", status_code=403)


def _ensure_other_owner(membership: Membership) -> None:
    owners = Membership.objects.filter(project_id=membership.project_id, role=ProjectRole.OWNER).exclude(
        pk=membership.pk
    )
    if not owners.exists():
        raise ConflictError("A project must keep at least one owner.")


@transaction.atomic
def membership_create(*, actor, project: Project, user, role: str, request=None) -> Membership:
    """Give ``user`` a role in ``project`` (and membership of its organization)."""
    if role not in ProjectRole.values:
        raise ApplicationError(f"Unknown role {role!r}.", extra={"fields": {"role": [f"One of {ProjectRole.values}."]}})
    if Membership.objects.filter(project=project, user=user).exists():
        raise ConflictError("That user is already a member of the project; change their role instead.")
    _check_owner_change(actor=actor, project=project, roles={role})
    return _membership_write(actor=actor, project=project, user=user, role=role, request=request)


@transaction.atomic
def membership_set_role(*, actor, membership: Membership, role: str, request=None) -> Membership:
    if role not in ProjectRole.values:
        raise ApplicationError(f"Unknown role {role!r}.", extra={"fields": {"role": [f"One of {ProjectRole.values}."]}})
    membership = (
        Membership.objects.select_for_update().select_related("project__organization", "user").get(pk=membership.pk)
    )
    _check_owner_change(actor=actor, project=membership.project, roles={role, membership.role})
    if membership.role == ProjectRole.OWNER and role != ProjectRole.OWNER:
        _ensure_other_owner(membership)
    return _membership_write(actor=actor, project=membership.project, user=membership.user, role=role, request=request)


@transaction.atomic
def membership_delete(*, actor, membership: Membership, request=None) -> None:
    """Remove a member; their access (sessions, JWTs and API tokens alike) ends with this transaction."""
    membership = (
        Membership.objects.select_for_update().select_related("project__organization", "user").get(pk=membership.pk)
    )
    _check_owner_change(actor=actor, project=membership.project, roles={membership.role})
    if membership.role == ProjectRole.OWNER:
        _ensure_other_owner(membership)
    project, user = membership.project, membership.user
    project_permissions_sync(user=user, project=project, role=None)
    membership.delete()
    audit_record(
        action=AuditAction.MEMBER_REMOVED,
        actor=actor,
        request=request,
        project=project,
        target=user,
        data={"role": membership.role},
    )
    notify(f"project:{project.pk}", "membership", {"user": user.get_username(), "role": None})
