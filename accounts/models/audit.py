from django.conf import settings
from django.db import models

from ..choices import AuditAction


class AuditLogQuerySet(models.QuerySet):
    def for_user(self, user, action: str = "view"):
        """Entries of projects the user administers, of organizations they own, and their own actions."""
        if user is None or not user.is_authenticated or not user.is_active or action != "view":
            return self.none()
        if user.is_superuser:
            return self
        from .tenancy import Organization, Project

        return self.filter(
            models.Q(actor=user)
            | models.Q(project__in=Project.objects.for_user(user, "manage_members").values("pk"))
            | models.Q(organization__in=Organization.objects.for_user(user, "manage_members").values("pk"))
        )


class AuditLog(models.Model):
    """Who did what, when and from where; rows are only ever appended."""

    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_username = models.CharField(max_length=150, blank=True, help_text="Kept when the user is deleted.")
    action = models.CharField(max_length=50, choices=AuditAction.choices, db_index=True)
    organization = models.ForeignKey(
        "accounts.Organization", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    project = models.ForeignKey("accounts.Project", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    target_type = models.CharField(max_length=100, blank=True)
    target_id = models.CharField(max_length=64, blank=True)
    target_repr = models.CharField(max_length=200, blank=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=300, blank=True)
    data = models.JSONField(default=dict, blank=True)

    objects = AuditLogQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M:%S} {self.actor_username or '-'} {self.action} {self.target_repr}"
