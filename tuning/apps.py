from django.apps import AppConfig


class TuningConfig(AppConfig):
    name = "tuning"
    verbose_name = "Tuning datasets and LoRA jobs"

    def ready(self):
        from . import realtime  # noqa: F401 - registers the "tuning" channel
