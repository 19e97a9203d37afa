from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils.text import slugify

from codequal.exceptions import ApplicationError

from ..models import Organization, Project
from .organizations import organization_create
from .projects import project_create


@dataclass(frozen=True)
class BootstrapResult:
    user: object
    user_created: bool
    organization: Organization
    organization_created: bool
    project: Project
    project_created: bool


@transaction.atomic
def platform_bootstrap(
    *, username: str, email: str, password: str | None, organization_name: str, project_name: str
) -> BootstrapResult:
    """Create the first superuser, organization and project; what exists already is kept as it is."""
    if not username:
        raise ApplicationError("A superuser name is required.")
    User = get_user_model()
    user = User.objects.filter(username=username).first()
    user_created = user is None
    if user_created:
        if not password:
            raise ApplicationError("A password is required to create the superuser.")
        user = User.objects.create_superuser(username=username, email=email or "", password=password)

    organization = Organization.objects.filter(slug=slugify(organization_name)).first()
    organization_created = organization is None
    if organization_created:
        organization = organization_create(actor=user, name=organization_name)

    project = Project.objects.filter(organization=organization, slug=slugify(project_name)).first()
    project_created = project is None
    if project_created:
        project = project_create(actor=user, organization=organization, name=project_name)
    return BootstrapResult(user, user_created, organization, organization_created, project, project_created)
