from rest_framework.routers import SimpleRouter


class OptionalSlashRouter(SimpleRouter):
    """Routes answer with and without the trailing slash (``/api/v1/projects`` and ``/api/v1/projects/``)."""

    def __init__(self):
        super().__init__()
        self.trailing_slash = "/?"
