from django.contrib import admin, messages

from codequal.admin import TenantScopedAdmin
from codequal.exceptions import ApplicationError

from . import services
from .models import TuningDataset, TuningJob, TuningStep


@admin.register(TuningDataset)
class TuningDatasetAdmin(TenantScopedAdmin):
    """Datasets are built by the service (API, CLI): the admin reads them and deletes unused ones."""

    list_display = ["name", "version", "project", "strategy", "train_count", "held_out_count", "created_at"]
    list_filter = ["strategy", "project"]
    search_fields = ["name"]
    list_select_related = ["project__organization"]
    readonly_fields = [f.name for f in TuningDataset._meta.fields]

    def has_add_permission(self, request):
        return False

    def delete_model(self, request, obj):
        services.tuning_dataset_delete(actor=request.user, dataset=obj)


class TuningStepInline(admin.TabularInline):
    model = TuningStep
    fields = ["step", "epoch", "loss", "validation_loss", "learning_rate"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    max_num = 0


@admin.register(TuningJob)
class TuningJobAdmin(TenantScopedAdmin):
    """Jobs and their loss per step; cancel and resume go through the services, as from the API."""

    list_display = ["name", "project", "base_endpoint", "dataset", "status", "stage", "progress", "loss", "created_at"]
    list_filter = ["status", "project"]
    search_fields = ["name"]
    list_select_related = ["project__organization", "base_endpoint", "dataset"]
    readonly_fields = [f.name for f in TuningJob._meta.fields]
    inlines = [TuningStepInline]
    actions = ["cancel_jobs", "resume_jobs"]

    def has_add_permission(self, request):
        return False

    def delete_model(self, request, obj):
        services.tuning_job_delete(actor=request.user, job=obj)

    def _each(self, request, queryset, service, verb: str):
        done = 0
        for job in queryset:
            try:
                service(actor=request.user, job=job)
                done += 1
            except ApplicationError as exc:
                self.message_user(request, f"{job}: {exc.message}", level=messages.WARNING)
        if done:
            self.message_user(request, f"{done} job(s) {verb}.")

    @admin.action(description="Cancel the selected jobs")
    def cancel_jobs(self, request, queryset):
        self._each(request, queryset, services.tuning_job_cancel, "cancelled")

    @admin.action(description="Resume the selected jobs from their last checkpoint")
    def resume_jobs(self, request, queryset):
        self._each(request, queryset, services.tuning_job_resume, "resumed")
