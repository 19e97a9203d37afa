from django.apps import AppConfig


class EvaluationsConfig(AppConfig):
    name = "evaluations"
    verbose_name = "Suites, evaluations and sandboxed execution"

    def ready(self):
        from . import realtime  # noqa: F401 - registers the "evaluation" channel
        from .metrics import load_plugins

        load_plugins()
