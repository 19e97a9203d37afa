from django import forms
from django.contrib import admin
from django.forms.models import construct_instance

from codequal.admin import TenantScopedAdmin
from codequal.exceptions import ApplicationError

from . import services
from .choices import ApiKeySource
from .models import ModelEndpoint
from .validation import EDITABLE

_FORM_FIELDS = ["project", *EDITABLE, "api_key_env"]


class ModelEndpointForm(forms.ModelForm):
    """The API key is write-only here too: the field starts empty and is never rendered back."""

    api_key = forms.CharField(
        required=False,
        strip=True,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="Stored encrypted. Leave empty to keep the current key.",
    )
    clear_api_key = forms.BooleanField(required=False, help_text="Remove the stored key.")

    class Meta:
        model = ModelEndpoint
        fields = _FORM_FIELDS

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["base_url"].required = False
        if self.instance.pk:
            self.fields.pop("project", None)

    def service_values(self) -> dict:
        values = {f: self.cleaned_data[f] for f in _FORM_FIELDS if f in self.cleaned_data and f != "project"}
        if self.cleaned_data.get("clear_api_key"):
            values["api_key"] = ""
        elif self.cleaned_data.get("api_key"):
            values["api_key"] = self.cleaned_data["api_key"]
        return values

    def _post_clean(self):
        # The service's validation (URL policy, options, key rules) decides, not the model's field checks.
        if self.errors:
            return
        self.instance = construct_instance(self, self.instance, self._meta.fields, self._meta.exclude)
        project = self.instance.project if self.instance.pk else self.cleaned_data.get("project")
        if project is None:
            return
        try:
            services.model_endpoint_check(
                project=project, values=self.service_values(), endpoint=self.instance if self.instance.pk else None
            )
        except ApplicationError as exc:
            fields = exc.extra.get("fields") or {None: [exc.message]}
            for field, messages in fields.items():
                target = field if field in self.fields else None
                for message in messages:
                    self.add_error(target, message)


@admin.register(ModelEndpoint)
class ModelEndpointAdmin(TenantScopedAdmin):
    form = ModelEndpointForm
    list_display = ["name", "project", "backend", "api_style", "base_url", "health_status", "health_checked_at"]
    search_fields = ["name", "model", "project__name"]
    list_filter = ["backend", "api_style", "health_status", ("project__organization", admin.RelatedOnlyFieldListFilter)]
    list_select_related = ["project__organization"]
    readonly_fields = ["key_state", "health_status", "health_checked_at", "health_error", "health_latency_ms"]
    actions = ["check_health"]

    def get_fieldsets(self, request, obj=None):
        main = [f for f in _FORM_FIELDS if not (obj and f == "project")]
        return [
            (None, {"fields": main}),
            ("API key", {"fields": ["key_state", "api_key", "clear_api_key"]}),
            ("Health", {"fields": self.readonly_fields[1:]}),
        ]

    @admin.display(description="API key")
    def key_state(self, obj):
        return ApiKeySource(obj.api_key_source).label if obj and obj.pk else "-"

    def save_model(self, request, obj, form, change):
        values = form.service_values()
        if change:
            services.model_endpoint_update(actor=request.user, endpoint=obj, **values)
        else:
            name, backend = values.pop("name"), values.pop("backend")
            created = services.model_endpoint_create(
                actor=request.user, project=form.cleaned_data["project"], name=name, backend=backend, **values
            )
            obj.pk = created.pk

    def delete_model(self, request, obj):
        services.model_endpoint_delete(actor=request.user, endpoint=obj)

    @admin.action(description="Check health of selected endpoints", permissions=["change"])
    def check_health(self, request, queryset):
        for endpoint in queryset:
            report = services.model_endpoint_check_health(actor=request.user, endpoint=endpoint)
            self.message_user(request, f"{endpoint.name}: {'healthy' if report.healthy else report.message}")
