from django.conf import settings
from django.db import models
from guardian.models import UserObjectPermissionBase

from ..choices import OrganizationRole, ProjectRole
from ..querysets import OrganizationQuerySet, OrganizationScopedQuerySet, ProjectQuerySet, ProjectScopedQuerySet


class Organization(models.Model):
    """A tenant: owns projects; nothing crosses from one organization to another."""

    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=100, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = OrganizationQuerySet.as_manager()

    scope_parent = None
    scope_actions = {"view": "view", "change": "change", "delete": "delete"}

    class Meta:
        ordering = ["name", "pk"]
        permissions = [
            ("manage_organization_members", "Manage organization members"),
            ("add_project_to_organization", "Create projects in the organization"),
            ("administer_organization_projects", "Act as owner of every project in the organization"),
        ]

    def __str__(self) -> str:
        return self.name


class OrganizationMembership(models.Model):
    """A user's membership of an organization; owners administer it and all of its projects."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="organization_memberships"
    )
    role = models.CharField(max_length=20, choices=OrganizationRole.choices, default=OrganizationRole.MEMBER)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = OrganizationScopedQuerySet.as_manager()

    organization_path = "organization"
    scope_parent = "organization"
    scope_actions = {"view": "view", "add": "manage_members", "change": "manage_members", "delete": "manage_members"}

    class Meta:
        ordering = ["organization_id", "user__username"]
        constraints = [models.UniqueConstraint(fields=["organization", "user"], name="uniq_organization_member")]

    def __str__(self) -> str:
        return f"{self.user} in {self.organization} ({self.role})"


class Project(models.Model):
    """A workspace inside an organization: every endpoint, evaluation and job belongs to one."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="projects")
    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=100)
    description = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = ProjectQuerySet.as_manager()

    scope_parent = "organization"
    # "add" is checked on the parent organization; the others on the project itself.
    scope_actions = {"view": "view", "add": "add_project", "change": "change", "delete": "delete"}

    class Meta:
        ordering = ["organization_id", "name", "pk"]
        constraints = [models.UniqueConstraint(fields=["organization", "slug"], name="uniq_project_slug_in_org")]
        permissions = [
            ("evaluate_project", "Run evaluations and tuning"),
            ("curate_project", "Curate suites and error patterns"),
            ("manage_project_members", "Manage project members"),
        ]

    def __str__(self) -> str:
        return f"{self.organization.slug}/{self.slug}"


class Membership(models.Model):
    """A user's role in a project; the guardian permissions on the project are derived from it."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="project_memberships")
    role = models.CharField(max_length=20, choices=ProjectRole.choices)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = ProjectScopedQuerySet.as_manager()

    project_path = "project"
    scope_parent = "project"
    scope_actions = {"view": "view", "add": "manage_members", "change": "manage_members", "delete": "manage_members"}

    class Meta:
        ordering = ["project_id", "user__username"]
        constraints = [models.UniqueConstraint(fields=["project", "user"], name="uniq_project_member")]

    def __str__(self) -> str:
        return f"{self.user} in {self.project} ({self.role})"


# Direct foreign-key permission tables (guardian's fast path): real FKs, cascading deletes, indexed joins.
# Roles are granted to users only, so there are no group tables.
class OrganizationUserObjectPermission(UserObjectPermissionBase):
    content_object = models.ForeignKey(Organization, on_delete=models.CASCADE)


class ProjectUserObjectPermission(UserObjectPermissionBase):
    content_object = models.ForeignKey(Project, on_delete=models.CASCADE)
