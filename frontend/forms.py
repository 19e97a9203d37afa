"""Portal forms: they shape input for the services and show the services' field errors next to the fields.

Validation itself lives in the services (``model_endpoint_create``, ``evaluation_create`` via ``parse_config``);
these forms only collect values and map dotted error keys (``problems.range``) back onto form fields.
"""

from django import forms

from evaluations.metrics import metric_names
from evaluations.runs.config import DEFAULT_METRICS
from models_registry.choices import ApiStyle, Backend
from models_registry.prompting import strategy_names


def add_service_errors(form: forms.Form, fields: dict, field_map: dict[str, str]) -> None:
    """Attach a service's ``{"dotted.key": message(s)}`` errors to the matching form fields (else non-field)."""
    for key, messages in (fields or {}).items():
        target = next((f for prefix, f in field_map.items() if key == prefix or key.startswith(prefix + ".")), None)
        for message in messages if isinstance(messages, list | tuple) else [messages]:
            text = str(message) if target else f"{key}: {message}"
            form.add_error(target, text)


class ModelEndpointForm(forms.Form):
    name = forms.CharField(max_length=200)
    backend = forms.ChoiceField(choices=Backend.choices)
    model = forms.CharField(max_length=300, required=False, help_text="Model id sent to the server (default: name).")
    base_url = forms.CharField(max_length=500, required=False, help_text="Empty: the backend's default.")
    api_style = forms.ChoiceField(choices=[("", "Backend default"), *ApiStyle.choices], required=False)
    api_key = forms.CharField(
        required=False,
        strip=True,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="Write-only: stored encrypted, never shown again. Leave empty to keep the current key.",
    )
    clear_api_key = forms.BooleanField(required=False, label="Remove the stored key")
    max_concurrency = forms.IntegerField(min_value=1, max_value=256, initial=4)

    FIELD_MAP = {f: f for f in ("name", "backend", "model", "base_url", "api_style", "api_key", "max_concurrency")}

    def service_fields(self, *, editing: bool) -> dict:
        data = self.cleaned_data
        fields = {k: data[k] for k in ("name", "backend", "model", "max_concurrency")}
        if data["base_url"]:
            fields["base_url"] = data["base_url"]
        if data["api_style"]:
            fields["api_style"] = data["api_style"]
        if data["api_key"]:
            fields["api_key"] = data["api_key"]
        elif data["clear_api_key"] and editing:
            fields["api_key"] = ""  # the service's way of saying "remove the stored key"
        return fields


class EvaluationForm(forms.Form):
    name = forms.CharField(max_length=200, required=False)
    models = forms.MultipleChoiceField(widget=forms.CheckboxSelectMultiple, required=False)
    suite = forms.ChoiceField()
    problem_range = forms.CharField(
        label="Problems",
        required=False,
        initial="0-9",
        help_text="Indices like 0-9 or 1,4,7-9; empty for every problem.",
    )
    task_ids = forms.CharField(required=False, help_text="Or task ids, comma-separated (HumanEval/0, ...).")
    difficulty = forms.MultipleChoiceField(
        choices=[("easy", "easy"), ("medium", "medium"), ("hard", "hard")],
        widget=forms.CheckboxSelectMultiple,
        required=False,
    )
    samples_per_problem = forms.IntegerField(initial=1)
    strategies = forms.MultipleChoiceField(widget=forms.CheckboxSelectMultiple, initial=["zero_shot"], required=False)
    temperature = forms.FloatField(required=False, help_text="Empty: the endpoint's default.")
    timeout_seconds = forms.FloatField(
        required=False, label="Timeout (s)", help_text="Per program; empty: each problem's own limit."
    )
    max_memory_mb = forms.IntegerField(initial=512, label="Memory limit (MB)")
    chunk_size = forms.IntegerField(initial=20, help_text="Problems per unit of work (progress is reported per unit).")
    k = forms.CharField(initial="1,10", label="pass@k", help_text="Values of k, comma-separated.")
    metrics = forms.MultipleChoiceField(
        widget=forms.CheckboxSelectMultiple, initial=list(DEFAULT_METRICS), required=False, label="Per-sample metrics"
    )

    FIELD_MAP = {
        "models": "models",
        "problems.suite": "suite",
        "problems.version": "suite",
        "problems.range": "problem_range",
        "problems.task_ids": "task_ids",
        "problems.filter": "difficulty",
        "problems": "problem_range",
        "evaluation.samples_per_problem": "samples_per_problem",
        "evaluation.timeout_seconds": "timeout_seconds",
        "evaluation.max_memory_mb": "max_memory_mb",
        "evaluation.chunk_size": "chunk_size",
        "generation.temperature": "temperature",
        "prompting": "strategies",
        "metrics.k": "k",
        "metrics": "metrics",
    }

    def __init__(self, *args, endpoints=(), suites=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["models"].choices = [(e.name, f"{e.name} ({e.get_backend_display()})") for e in endpoints]
        self.fields["suite"].choices = [(s.pk, f"{s.name} v{s.version} · {s.problem_count} problems") for s in suites]
        self.fields["strategies"].choices = [(s, s.replace("_", " ")) for s in strategy_names()]
        self.fields["metrics"].choices = [(m, m.replace("_", " ")) for m in metric_names()]
        self.suites = {str(s.pk): s for s in suites}

    def to_config(self) -> dict:
        """The run configuration as the API and CLI take it; ``evaluation_create`` validates every value."""
        data = self.cleaned_data
        suite = self.suites[data["suite"]]
        problems: dict = {"suite": suite.name, "version": suite.version}
        if data["problem_range"].strip():
            problems["range"] = data["problem_range"].strip()
        if data["task_ids"].strip():
            problems["task_ids"] = [t.strip() for t in data["task_ids"].split(",") if t.strip()]
        if data["difficulty"]:
            problems["filter"] = {"difficulty": data["difficulty"]}
        evaluation = {
            "samples_per_problem": data["samples_per_problem"],
            "max_memory_mb": data["max_memory_mb"],
            "chunk_size": data["chunk_size"],
        }
        if data["timeout_seconds"] is not None:
            evaluation["timeout_seconds"] = data["timeout_seconds"]
        generation = {"temperature": data["temperature"]} if data["temperature"] is not None else {}
        return {
            "name": data["name"],
            "models": data["models"],
            "problems": problems,
            "evaluation": evaluation,
            "generation": generation,
            "prompting": {"strategies": data["strategies"] or ["zero_shot"]},
            "metrics": {"enable": data["metrics"], "k": self._ks()},
        }

    def _ks(self):
        values = []
        for part in self.cleaned_data["k"].split(","):
            part = part.strip()
            if not part:
                continue
            try:
                values.append(int(part))
            except ValueError:
                values.append(part)  # parse_config names it in metrics.k
        return values
