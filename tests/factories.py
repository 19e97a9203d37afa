"""Factories that create through the services, as the platform itself does."""

from dataclasses import dataclass, field

import factory
from django.contrib.auth import get_user_model

from accounts import services
from accounts.choices import ProjectRole
from accounts.models import Organization, Project

PASSWORD = "correct-horse-battery-staple"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda o: f"{o.username}@example.test")
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @factory.post_generation
    def _save(obj, create, extracted, **kwargs):
        if create:
            obj.save()


def organization_with_owner(name: str, owner=None) -> Organization:
    owner = owner or UserFactory()
    return services.organization_create(actor=owner, name=name)


def project_in(organization: Organization, name: str, owner) -> Project:
    return services.project_create(actor=owner, organization=organization, name=name)


@dataclass
class Tenant:
    organization: Organization
    project: Project
    org_owner: object
    users: dict = field(default_factory=dict)  # project role -> user

    def user(self, role: str):
        return self.users[role]


@dataclass
class TenantWorld:
    a: Tenant
    b: Tenant
    outsider: object


def make_tenant(label: str) -> Tenant:
    org_owner = UserFactory(username=f"{label}-orgowner")
    organization = organization_with_owner(f"Org {label.upper()}", owner=org_owner)
    project_owner = UserFactory(username=f"{label}-owner")
    services.organization_member_add(actor=org_owner, organization=organization, user=project_owner, role="member")
    project = project_in(organization, f"Project {label.upper()}", owner=org_owner)
    services.membership_create(actor=org_owner, project=project, user=project_owner, role=ProjectRole.OWNER)
    services.membership_delete(actor=project_owner, membership=project.memberships.get(user=org_owner))
    users = {ProjectRole.OWNER: project_owner}
    for role in (ProjectRole.ADMIN, ProjectRole.CURATOR, ProjectRole.EVALUATOR, ProjectRole.VIEWER):
        user = UserFactory(username=f"{label}-{role}")
        services.membership_create(actor=project_owner, project=project, user=user, role=role)
        users[role] = user
    return Tenant(organization=organization, project=project, org_owner=org_owner, users=users)


def make_world() -> TenantWorld:
    return TenantWorld(a=make_tenant("a"), b=make_tenant("b"), outsider=UserFactory(username="outsider"))
