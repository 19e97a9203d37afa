"""Suite scoping: built-in suites (no project) are readable by every active user and writable by nobody; custom
suites follow the user's role in their project through the same project scoping as every other tenant model."""

from django.db import models

from accounts.querysets import _is_active


class SuiteScopedQuerySet(models.QuerySet):
    """Rows that reach a suite's project through ``model.project_path``; a NULL project there is a built-in suite."""

    def for_user(self, user, action: str = "view"):
        from accounts.models import Project

        if not _is_active(user):
            return self.none()
        path = self.model.project_path
        projects = Project.objects.for_user(user, self.model.scope_actions.get(action, action))
        custom = models.Q(**{f"{path}__in": projects.values("pk")})
        if action != "view":
            return self.filter(custom)  # built-in suites are read-only for everyone, superusers included
        return self.filter(custom | models.Q(**{f"{path}__isnull": True}))

    def builtin(self):
        return self.filter(**{f"{self.model.project_path}__isnull": True})
