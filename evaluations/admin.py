from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse

from accounts.models import Project
from codequal.admin import TenantScopedAdmin
from codequal.exceptions import ApplicationError

from . import services
from .choices import IMPORT_FORMATS
from .models import BenchmarkSuite, Problem


class SuiteImportForm(forms.Form):
    project = forms.ModelChoiceField(
        queryset=Project.objects.none(), required=False, help_text="Empty: a built-in suite (superusers only)."
    )
    name = forms.SlugField(max_length=100, help_text="Importing an existing name makes its next version.")
    format = forms.ChoiceField(choices=IMPORT_FORMATS)
    file = forms.FileField(required=False, help_text=".jsonl, .jsonl.gz, .yaml")
    url = forms.URLField(required=False, max_length=2000, assume_scheme="https")
    title = forms.CharField(required=False, max_length=200)
    allow_broken = forms.BooleanField(
        required=False, help_text="Keep problems whose reference solution fails its tests, flagged."
    )

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["project"].queryset = Project.objects.for_user(user, "curate").select_related("organization")
        if not user.is_superuser:
            self.fields["project"].required = True
            self.fields["project"].help_text = ""

    def clean(self):
        data = super().clean()
        if bool(data.get("file")) == bool(data.get("url")):
            raise forms.ValidationError("Give exactly one of a file or a URL.")
        return data


@admin.register(BenchmarkSuite)
class BenchmarkSuiteAdmin(TenantScopedAdmin):
    list_display = [
        "name",
        "version",
        "title",
        "project",
        "source_format",
        "problem_count",
        "flagged_count",
        "created_at",
    ]
    search_fields = ["name", "title", "source_reference"]
    list_filter = ["source_format", "language", ("project", admin.RelatedOnlyFieldListFilter)]
    list_select_related = ["project__organization"]
    readonly_fields = [f.name for f in BenchmarkSuite._meta.fields]
    change_list_template = "admin/evaluations/benchmarksuite/change_list.html"

    def has_add_permission(self, request):
        return False  # suites are imported (see the import page), never typed in

    def has_change_permission(self, request, obj=None):
        return False  # an imported version never changes

    def has_delete_permission(self, request, obj=None):
        if obj is not None and obj.is_builtin:
            return False
        return super().has_delete_permission(request, obj)

    def delete_model(self, request, obj):
        services.suite_delete(actor=request.user, suite=obj)

    def _can_import(self, request) -> bool:
        user = request.user
        return (
            user.is_active
            and user.is_staff
            and (user.is_superuser or Project.objects.for_user(user, "curate").exists())
        )

    def changelist_view(self, request, extra_context=None):
        extra_context = {**(extra_context or {}), "can_import": self._can_import(request)}
        return super().changelist_view(request, extra_context)

    def get_urls(self):
        extra = [path("import/", self.admin_site.admin_view(self.import_view), name="evaluations_suite_import")]
        return extra + super().get_urls()

    def import_view(self, request):
        if not self._can_import(request):
            raise PermissionDenied
        form = SuiteImportForm(request.POST or None, request.FILES or None, user=request.user)
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            upload = data.get("file")
            try:
                source = services.suite_source_load(
                    url=data.get("url") or None,
                    data=upload.read() if upload else None,
                    filename=upload.name if upload else "upload",
                )
                report = services.suite_import(
                    actor=request.user,
                    project=data.get("project"),
                    name=data["name"],
                    source_format=data["format"],
                    source=source,
                    title=data.get("title") or "",
                    allow_broken=data.get("allow_broken", False),
                )
            except ApplicationError as exc:
                details = exc.extra.get("errors") or [
                    f"{f['task_id']}: {f['reason']}" for f in exc.extra.get("flagged", [])
                ]
                form.add_error(None, exc.message)
                for line in details[1:10]:
                    form.add_error(None, line)
            else:
                self.message_user(request, report.summary(), messages.SUCCESS)
                return HttpResponseRedirect(reverse("admin:evaluations_benchmarksuite_change", args=[report.suite.pk]))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "form": form,
            "title": "Import a suite",
        }
        return TemplateResponse(request, "admin/evaluations/benchmarksuite/import.html", context)


@admin.register(Problem)
class ProblemAdmin(TenantScopedAdmin):
    list_display = ["task_id", "suite", "entry_point", "difficulty", "category", "flagged"]
    search_fields = ["task_id", "entry_point", "prompt"]
    list_filter = ["difficulty", "flagged", "language", ("suite", admin.RelatedOnlyFieldListFilter)]
    list_select_related = ["suite"]
    readonly_fields = [f.name for f in Problem._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False  # problems go with their suite version
