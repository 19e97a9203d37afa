from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Accounts and tenancy"

    def ready(self):
        from . import realtime  # noqa: F401 - registers the "project" channel
        from .api import schema  # noqa: F401 - OpenAPI descriptions of our authentication classes
