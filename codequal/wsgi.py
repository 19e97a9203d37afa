"""WSGI entry point (HTTP only; use the ASGI application for WebSockets)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "codequal.settings")
application = get_wsgi_application()
