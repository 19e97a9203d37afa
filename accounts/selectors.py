"""Reads for accounts, starting from the tenant-scoped querysets."""

from django.contrib.auth import get_user_model
from django.db.models import Q

from codequal.exceptions import ApplicationError

from .models import Membership, Organization, OrganizationMembership, Project


def project_user_can(*, user, project: Project, action: str) -> bool:
    """Whether ``user`` may perform a project action ("view", "evaluate", "curate", ...) in ``project``."""
    return Project.objects.for_user(user, action).filter(pk=project.pk).exists()


def organization_user_can(*, user, organization: Organization, action: str) -> bool:
    return Organization.objects.for_user(user, action).filter(pk=organization.pk).exists()


def project_list(*, user, organization: Organization | None = None):
    qs = Project.objects.for_user(user, "view").select_related("organization")
    if organization is not None:
        qs = qs.filter(organization=organization)
    return qs


def user_roles(*, user) -> list[dict]:
    """The user's explicit project roles, for "who am I" answers and the portal."""
    rows = (
        Membership.objects.filter(user=user)
        .select_related("project__organization")
        .order_by("project__organization__name", "project__name")
    )
    return [
        {
            "project": m.project_id,
            "project_name": m.project.name,
            "organization": m.project.organization_id,
            "role": m.role,
        }
        for m in rows
    ]


def user_organization_roles(*, user) -> list[dict]:
    rows = OrganizationMembership.objects.filter(user=user).select_related("organization")
    return [{"organization": m.organization_id, "name": m.organization.name, "role": m.role} for m in rows]


def user_get_by_identifier(*, identifier: str):
    """Find an active user by username or (case-insensitive) e-mail; a clear error if none or ambiguous."""
    identifier = (identifier or "").strip()
    if not identifier:
        raise ApplicationError("Give a username or an e-mail address.", extra={"fields": {"user": ["Required."]}})
    User = get_user_model()
    matches = list(User.objects.filter(Q(username=identifier) | Q(email__iexact=identifier), is_active=True)[:2])
    exact = [u for u in matches if u.username == identifier]
    if exact:
        return exact[0]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise ApplicationError(
            "No active user has that username or e-mail address.", extra={"fields": {"user": [identifier]}}
        )
    raise ApplicationError(
        "Several users share that e-mail address; use the username.", extra={"fields": {"user": [identifier]}}
    )


def project_overview(*, user):
    """Visible projects with the user's explicit role and member count, grouped by organization in order."""
    from django.db.models import Count, OuterRef, Subquery

    my_role = Membership.objects.filter(project=OuterRef("pk"), user=user).values("role")[:1]
    return (
        project_list(user=user)
        .annotate(my_role=Subquery(my_role), member_count=Count("memberships", distinct=True))
        .order_by("organization__name", "name")
    )
