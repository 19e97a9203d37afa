"""Job functions the job tests enqueue (importable by path, as RQ needs)."""

from accounts.choices import AuditAction
from accounts.models import AuditLog, Project


def record_project_note(project_id: int, note: str) -> None:
    project = Project.objects.get(pk=project_id)
    AuditLog.objects.create(
        action=AuditAction.PROJECT_UPDATED, project=project, organization=project.organization, data={"note": note}
    )


def explode() -> None:
    raise RuntimeError("job failed on purpose")
