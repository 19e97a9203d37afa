from django.db import transaction

from codequal.exceptions import ApplicationError, ConflictError

from ..choices import AuditAction, OrganizationRole
from ..models import Membership, Organization, OrganizationMembership
from .audit import audit_record
from .common import apply_changes, ensure_slug_free, name_and_slug_changes, unique_slug
from .permissions import organization_permissions_sync, project_permissions_sync

SLUG_TAKEN = "That organization slug is taken."


@transaction.atomic
def organization_create(*, actor, name: str, slug: str | None = None, request=None) -> Organization:
    """Create an organization owned by ``actor``."""
    name = (name or "").strip()
    if not name:
        raise ApplicationError("An organization needs a name.", extra={"fields": {"name": ["Required."]}})
    if slug:
        ensure_slug_free(Organization.objects.all(), slug, SLUG_TAKEN)
    else:
        slug = unique_slug(Organization, name)
    organization = Organization.objects.create(name=name, slug=slug)
    audit_record(
        action=AuditAction.ORGANIZATION_CREATED,
        actor=actor,
        request=request,
        organization=organization,
        target=organization,
    )
    _member_write(actor=actor, organization=organization, user=actor, role=OrganizationRole.OWNER, request=request)
    return organization


@transaction.atomic
def organization_update(
    *, actor, organization: Organization, name: str | None = None, slug: str | None = None, request=None
) -> Organization:
    changes = name_and_slug_changes(organization, name=name, slug=slug)
    if "slug" in changes:
        ensure_slug_free(Organization.objects.all(), slug, SLUG_TAKEN, exclude_pk=organization.pk)
    if apply_changes(organization, changes):
        audit_record(
            action=AuditAction.ORGANIZATION_UPDATED,
            actor=actor,
            request=request,
            organization=organization,
            target=organization,
            data=changes,
        )
    return organization


@transaction.atomic
def organization_delete(*, actor, organization: Organization, request=None) -> None:
    audit_record(
        action=AuditAction.ORGANIZATION_DELETED,
        actor=actor,
        request=request,
        target=organization,
        data={"name": organization.name, "slug": organization.slug},
    )
    organization.delete()


def _member_write(*, actor, organization, user, role, request) -> OrganizationMembership:
    membership, created = OrganizationMembership.objects.get_or_create(
        organization=organization, user=user, defaults={"role": role}
    )
    if not created and membership.role == role:
        return membership
    old_role = None if created else membership.role
    membership.role = role
    membership.save()
    organization_permissions_sync(user=user, organization=organization, role=role)
    audit_record(
        action=AuditAction.ORGANIZATION_MEMBER_ADDED if created else AuditAction.ORGANIZATION_MEMBER_ROLE_CHANGED,
        actor=actor,
        request=request,
        organization=organization,
        target=user,
        data={"role": role, "previous_role": old_role},
    )
    return membership


def organization_member_ensure(*, actor, organization: Organization, user, request=None) -> OrganizationMembership:
    """Make ``user`` a member of the organization if they are not one yet (their role is kept if they are)."""
    existing = OrganizationMembership.objects.filter(organization=organization, user=user).first()
    if existing is not None:
        return existing
    return _member_write(
        actor=actor, organization=organization, user=user, role=OrganizationRole.MEMBER, request=request
    )


def _ensure_other_owner(membership: OrganizationMembership) -> None:
    others = OrganizationMembership.objects.filter(
        organization_id=membership.organization_id, role=OrganizationRole.OWNER
    )
    if not others.exclude(pk=membership.pk).exists():
        raise ConflictError("An organization must keep at least one owner.")


@transaction.atomic
def organization_member_add(
    *, actor, organization: Organization, user, role: str, request=None
) -> OrganizationMembership:
    if OrganizationMembership.objects.filter(organization=organization, user=user).exists():
        raise ConflictError("That user is already a member of the organization.")
    return _member_write(actor=actor, organization=organization, user=user, role=role, request=request)


@transaction.atomic
def organization_member_set_role(
    *, actor, membership: OrganizationMembership, role: str, request=None
) -> OrganizationMembership:
    membership = OrganizationMembership.objects.select_for_update().get(pk=membership.pk)
    if membership.role == OrganizationRole.OWNER and role != OrganizationRole.OWNER:
        _ensure_other_owner(membership)
    return _member_write(
        actor=actor, organization=membership.organization, user=membership.user, role=role, request=request
    )


@transaction.atomic
def organization_member_remove(*, actor, membership: OrganizationMembership, request=None) -> None:
    """Remove a user from the organization and from every project in it; access ends at once."""
    membership = OrganizationMembership.objects.select_for_update().get(pk=membership.pk)
    if membership.role == OrganizationRole.OWNER:
        _ensure_other_owner(membership)
    organization, user = membership.organization, membership.user
    project_memberships = Membership.objects.filter(project__organization=organization, user=user).select_related(
        "project"
    )
    removed_projects = []
    for pm in project_memberships:
        project_permissions_sync(user=user, project=pm.project, role=None)
        removed_projects.append(pm.project_id)
        pm.delete()
    organization_permissions_sync(user=user, organization=organization, role=None)
    membership.delete()
    audit_record(
        action=AuditAction.ORGANIZATION_MEMBER_REMOVED,
        actor=actor,
        request=request,
        organization=organization,
        target=user,
        data={"role": membership.role, "projects": removed_projects},
    )
