from django import forms
from django.contrib import admin, messages

from codequal.admin import TenantScopedAdmin
from codequal.exceptions import ApplicationError

from . import services
from .models import ErrorPattern

CURATED = ["title", "notes", "suggested_fix"]


class MergeForm(forms.Form):
    into = forms.IntegerField(label="Merge into pattern id")


@admin.register(ErrorPattern)
class ErrorPatternAdmin(TenantScopedAdmin):
    """Curators browse, annotate (title, notes, suggested fix) and merge patterns; counts come from analysis only."""

    list_display = ["__str__", "error_type", "frequency", "project", "merged_into", "last_seen", "annotated_by"]
    list_filter = ["error_type", ("project__organization", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["title", "message", "construct", "pattern_hash"]
    list_select_related = ["project__organization", "merged_into", "annotated_by"]
    fields = [
        *CURATED,
        "project",
        "error_type",
        "pattern_hash",
        "message",
        "construct",
        "frequency",
        "models_affected",
        "details",
        "examples",
        "first_seen",
        "last_seen",
        "fix_curated",
        "merged_into",
        "annotated_by",
        "annotated_at",
    ]
    readonly_fields = [f for f in fields if f not in CURATED]
    actions = ["merge_into_first"]

    def has_add_permission(self, request):
        return False  # patterns come from analysis

    def save_model(self, request, obj, form, change):
        changes = {f: form.cleaned_data[f] for f in CURATED if f in form.changed_data}
        if changes:
            fresh = ErrorPattern.objects.get(pk=obj.pk)
            services.error_pattern_annotate(actor=request.user, pattern=fresh, **changes)

    @admin.action(description="Merge the selected patterns into the most frequent one")
    def merge_into_first(self, request, queryset):
        patterns = list(queryset.filter(merged_into__isnull=True).order_by("-frequency", "pk"))
        if len(patterns) < 2:
            self.message_user(request, "Select at least two unmerged patterns.", level=messages.WARNING)
            return
        into, merged = patterns[0], 0
        for pattern in patterns[1:]:
            if not self.has_change_permission(request, pattern) or not self.has_change_permission(request, into):
                continue
            try:
                into = services.error_pattern_merge(actor=request.user, pattern=pattern, into=into)
                merged += 1
            except ApplicationError as exc:
                self.message_user(request, f"{pattern}: {exc.message}", level=messages.ERROR)
        self.message_user(request, f"Merged {merged} pattern(s) into “{into}”.")
