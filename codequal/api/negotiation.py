"""Content negotiation for file downloads whose ``?format=`` names the file's format, not a DRF renderer."""

from rest_framework.negotiation import DefaultContentNegotiation


class FileFormatNegotiation(DefaultContentNegotiation):
    """Ignores ``?format=``: errors render as JSON (the first renderer), the file itself is built by the view."""

    def select_renderer(self, request, renderers, format_suffix=None):
        renderer = renderers[0]
        return renderer, renderer.media_type
