from codequal.realtime import register_channel

from .models import Project


@register_channel("project")
def project_channel(user, project_id: int) -> bool:
    """Project-wide events (membership changes today; later runs and jobs) for anyone who can see the project."""
    return Project.objects.for_user(user, "view").filter(pk=project_id).exists()
